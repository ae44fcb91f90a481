bt-import bad/cycle_reset.csv
