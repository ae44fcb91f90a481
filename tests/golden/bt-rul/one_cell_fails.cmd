bt-rul -g cell -m exp rul/mixed.csv
