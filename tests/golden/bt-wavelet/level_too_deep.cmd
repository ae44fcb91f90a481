bt-wavelet wavedec -c voltage_v -w db2 -l 3 wavelet/short.csv
