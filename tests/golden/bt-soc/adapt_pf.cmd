bt-soc -m ecm/linear2rc.ecm --method pf --adapt examples/drive.csv
