bt-soc --method nn examples/drive.csv
