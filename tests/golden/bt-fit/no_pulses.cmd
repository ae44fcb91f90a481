bt-fit --soc0 0.5 --capacity 2.5 fit/rest_only.csv
