bt-import bad/empty.csv
