bt-fit --temperature 10 --temperature 25 fit/no_charge.csv
