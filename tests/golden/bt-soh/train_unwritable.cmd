bt-soh train -q --epochs 2 -m /dev/null/x.btnet examples/cycles.csv.gz
