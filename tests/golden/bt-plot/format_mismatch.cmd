bt-plot -x time_s -y voltage_v --format svg examples/drive.csv -o plot.png
