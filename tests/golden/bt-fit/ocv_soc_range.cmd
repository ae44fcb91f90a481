bt-fit --mode profile --ocv fit/ocv_range.csv --soc0 0.5 fit/no_charge.csv
