bt-soh cycles soh/backwards.csv
