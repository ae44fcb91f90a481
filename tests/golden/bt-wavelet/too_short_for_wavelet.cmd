bt-wavelet wavedec -c voltage_v -w db8 wavelet/short.csv
