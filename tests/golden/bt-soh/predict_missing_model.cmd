bt-soh predict -m soh/no_such.btnet examples/cycles.csv.gz
