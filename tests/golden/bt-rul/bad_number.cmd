bt-rul rul/badnum.csv
