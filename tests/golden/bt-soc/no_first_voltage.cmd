bt-soc -m ecm/linear2rc.ecm soc/no_first_voltage.csv
