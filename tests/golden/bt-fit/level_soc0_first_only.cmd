bt-fit --soc0 0.8 --capacity 2.5 fit/levels_nocv.csv
