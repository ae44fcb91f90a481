bt-sim -m ecm/linear2rc.ecm --protocol cc --current -1 bad/cycle_reset.csv
