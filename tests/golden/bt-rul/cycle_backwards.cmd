bt-rul -g cell rul/backwards.csv
