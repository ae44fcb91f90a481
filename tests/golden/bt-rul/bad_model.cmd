bt-rul -m quadratic rul/short.csv
