bt-import bad/ragged.csv
