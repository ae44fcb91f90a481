bt-fit fit/no_charge.csv
