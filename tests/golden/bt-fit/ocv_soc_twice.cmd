bt-fit --mode profile --ocv fit/ocv_twice.csv --soc0 0.5 fit/no_charge.csv
