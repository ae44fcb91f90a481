bt-plot -x time_s -y voltage_v,nope examples/drive.csv
