bt-soc -m ecm/linear2rc.ecm --soc0 1.5 examples/drive.csv
