bt-fit --mode profile fit/no_charge.csv
