bt-soc -m ecm/linear2rc.ecm --epochs 3 examples/drive.csv
