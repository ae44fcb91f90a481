bt-wavelet wavedec -c voltage_v -l 2.5 wavelet/short.csv
