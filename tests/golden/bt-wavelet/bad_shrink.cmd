bt-wavelet denoise -c voltage_v --shrink firm wavelet/short.csv
