bt-soh predict -m ecm/linear2rc.ecm examples/cycles.csv.gz
