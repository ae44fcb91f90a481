bt-import bad/missing_voltage.csv
