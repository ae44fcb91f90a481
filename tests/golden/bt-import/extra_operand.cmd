bt-import bad/cycle_reset.csv bad/ragged.csv
