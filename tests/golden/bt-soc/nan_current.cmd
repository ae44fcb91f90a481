bt-soc -m ecm/linear2rc.ecm bad/nan_current.csv
