bt-wavelet denoise -c voltage_v -w db99 wavelet/short.csv
