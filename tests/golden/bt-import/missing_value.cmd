bt-import bad/missing_value.csv
