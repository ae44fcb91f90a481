bt-soc -m ecm/bad_number.ecm examples/drive.csv
