head -n 1 fit/no_charge.csv | bt-fit
