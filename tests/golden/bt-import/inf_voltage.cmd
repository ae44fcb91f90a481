bt-import bad/inf_voltage.csv
