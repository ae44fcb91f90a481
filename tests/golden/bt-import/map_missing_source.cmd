bt-import --map current_a=Amps bad/cycle_reset.csv
