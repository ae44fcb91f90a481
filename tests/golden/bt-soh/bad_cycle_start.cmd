bt-soh cycles --cycle-start up soh/backwards.csv
