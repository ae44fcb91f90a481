bt-soc -m ecm/linear2rc.ecm --reference soc_ref examples/drive.csv
