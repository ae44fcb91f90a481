bt-fit --rc 1 --soc0 1 --lut-prefix 2cell fit/no_charge.csv
