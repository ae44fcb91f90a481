bt-soc -m ecm/linear2rc.ecm --method kalman examples/drive.csv
