bt-plot --preset bode examples/drive.csv
