bt-soh history --capacity capacity_ah soh/history.csv
