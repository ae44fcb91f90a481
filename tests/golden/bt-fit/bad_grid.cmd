bt-fit --soc-grid 0.5,0.4 fit/no_charge.csv
