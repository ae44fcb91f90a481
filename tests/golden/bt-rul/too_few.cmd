bt-rul rul/short.csv
