bt-soh train -m x.btnet --method lstm examples/cycles.csv.gz
