bt-soh history soh/history.csv extra.csv
