bt-wavelet wavedec -c voltage_v -m mirror wavelet/short.csv
