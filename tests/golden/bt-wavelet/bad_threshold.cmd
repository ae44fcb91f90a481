bt-wavelet denoise -c voltage_v --threshold visu wavelet/short.csv
