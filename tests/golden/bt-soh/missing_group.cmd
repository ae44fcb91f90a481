bt-soh cycles -g battery_id soh/backwards.csv
