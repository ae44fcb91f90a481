bt-import --map current_a bad/cycle_reset.csv
