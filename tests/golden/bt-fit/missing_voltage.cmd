bt-fit --soc0 0.5 fit/no_voltage.csv
