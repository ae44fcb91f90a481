bt-import --no-such-option bad/cycle_reset.csv
