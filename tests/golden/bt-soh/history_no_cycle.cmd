bt-soh history soh/no_voltage.csv
