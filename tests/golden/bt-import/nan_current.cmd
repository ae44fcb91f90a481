bt-import bad/nan_current.csv
