bt-plot --preset denoise --with - < examples/drive.csv
