bt-wavelet denoise -c voltage_v -l 4 wavelet/short.csv
