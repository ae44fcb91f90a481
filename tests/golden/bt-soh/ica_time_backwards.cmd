bt-soh ica soh/wild_voltage.csv
