bt-fit --soc0 0.5 --capacity 2.5 fit/one_point.csv
