bt-plot -x time_s examples/drive.csv
