bt-fit --mode ocv fit/ocv_one_branch.csv
