bt-soc train -o m.net examples/drive.csv
