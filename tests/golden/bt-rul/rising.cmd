bt-rul rul/rising.csv
