bt-rul rul/flat.csv
