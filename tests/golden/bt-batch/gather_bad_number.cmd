bt-batch --gather-only bad/non_numeric.csv
