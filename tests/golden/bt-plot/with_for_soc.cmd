bt-plot --preset soc --with examples/drive.csv examples/drive.csv
