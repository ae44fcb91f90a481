bt-soc -m ecm/linear2rc.ecm --particles 1 --method pf examples/drive.csv
