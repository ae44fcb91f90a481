bt-plot --preset fit -y voltage_v examples/drive.csv
