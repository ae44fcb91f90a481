bt-plot -x time_s -y voltage_v examples/drive.csv -o /nonexistent/plot.png
