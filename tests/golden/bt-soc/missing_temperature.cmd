bt-soc -m ecm/linear2rc.ecm -p 6 soc/missing_temperature.csv
