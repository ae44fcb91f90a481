bt-soh dance soh/history.csv
