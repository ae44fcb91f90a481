bt-soh ica --prominence 2 soh/backwards.csv
