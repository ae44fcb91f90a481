bt-fit --mode ocv --report r.csv fit/ocv_branches.csv
