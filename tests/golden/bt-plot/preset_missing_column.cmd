bt-plot --preset soc examples/drive.csv
