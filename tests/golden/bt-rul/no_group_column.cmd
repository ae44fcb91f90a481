bt-rul -g battery_id rul/short.csv
