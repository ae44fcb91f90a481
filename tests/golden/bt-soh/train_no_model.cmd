bt-soh train soh/history.csv
