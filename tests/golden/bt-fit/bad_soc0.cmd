bt-fit --soc0 1.2 fit/no_charge.csv
