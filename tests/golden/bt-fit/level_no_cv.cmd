bt-fit fit/levels_nocv.csv
