bt-soh ica --bin-v 0 soh/backwards.csv
