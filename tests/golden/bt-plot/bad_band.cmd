bt-plot -x time_s -y voltage_v --band soc_lo examples/drive.csv
