bt-fit --rc 4 fit/no_charge.csv
