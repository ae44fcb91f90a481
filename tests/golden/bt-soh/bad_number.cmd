bt-soh cycles soh/bad_number.csv
