bt-soh train -q -m x.btnet soh/charge_only.csv
