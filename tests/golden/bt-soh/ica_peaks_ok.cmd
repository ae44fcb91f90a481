bt-soh ica --peaks --bin-v 0.005 --smooth-v 0.01 --prominence 0.2 -p 6 examples/cycles.csv.gz
