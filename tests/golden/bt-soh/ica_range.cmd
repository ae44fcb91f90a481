bt-soh ica -g cell soh/wild_voltage.csv
