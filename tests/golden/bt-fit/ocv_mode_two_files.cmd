bt-fit --mode ocv fit/no_charge.csv fit/rest_only.csv
