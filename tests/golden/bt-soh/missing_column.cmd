bt-soh cycles soh/no_voltage.csv
