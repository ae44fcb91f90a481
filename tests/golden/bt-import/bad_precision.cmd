bt-import -p 40 bad/cycle_reset.csv
