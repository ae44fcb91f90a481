bt-import bad/unrecognised.csv
