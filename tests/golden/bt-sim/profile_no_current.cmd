bt-sim -m ecm/linear2rc.ecm bad/no_current.csv
