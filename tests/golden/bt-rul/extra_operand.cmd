bt-rul rul/short.csv extra.csv
