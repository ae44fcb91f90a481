bt-import bad/non_numeric.csv
