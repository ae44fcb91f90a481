bt-wavelet denoise -c voltage_v --sigma 0 wavelet/short.csv
