bt-rul -m life rul/short.csv
