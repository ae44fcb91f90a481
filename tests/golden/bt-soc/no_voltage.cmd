bt-soc -m ecm/linear2rc.ecm examples/profile.csv
