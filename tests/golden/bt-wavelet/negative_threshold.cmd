bt-wavelet denoise -c voltage_v --threshold -0.01 wavelet/short.csv
