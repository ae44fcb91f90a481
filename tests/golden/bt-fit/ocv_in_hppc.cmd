bt-fit --ocv fit/ocv_twice.csv fit/no_charge.csv
