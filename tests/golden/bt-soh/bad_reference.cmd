bt-soh cycles --reference-capacity 0 soh/backwards.csv
