bt-rul rul/nocap.csv
