bt-plot -x time_s -y voltage_v --gnuplot /nonexistent/gnuplot examples/drive.csv
