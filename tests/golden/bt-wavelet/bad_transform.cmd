bt-wavelet denoise -c voltage_v --transform cwt wavelet/short.csv
