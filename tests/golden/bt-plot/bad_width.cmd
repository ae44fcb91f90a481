bt-plot -x time_s -y voltage_v --width 12.5 examples/drive.csv
