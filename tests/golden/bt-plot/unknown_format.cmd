bt-plot -x time_s -y voltage_v --format jpg examples/drive.csv
