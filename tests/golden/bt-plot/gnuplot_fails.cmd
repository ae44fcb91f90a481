bt-plot -x time_s -y voltage_v --gnuplot false examples/drive.csv
