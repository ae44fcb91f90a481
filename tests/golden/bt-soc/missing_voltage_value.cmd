bt-soc -m ecm/linear2rc.ecm -p 6 bad/missing_value.csv
