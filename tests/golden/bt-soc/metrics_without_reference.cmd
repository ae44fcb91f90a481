bt-soc -m ecm/linear2rc.ecm --metrics m.csv examples/drive.csv
