bt-soc -m ecm/linear2rc.ecm --r-v 0 examples/drive.csv
