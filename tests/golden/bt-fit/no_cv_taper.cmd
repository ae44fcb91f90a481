bt-fit fit/cc_only_charge.csv
