bt-fit --mode eis fit/no_charge.csv
