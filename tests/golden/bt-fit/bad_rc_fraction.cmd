bt-fit --rc 1.5 fit/no_charge.csv
