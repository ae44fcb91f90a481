bt-wavelet denoise -c voltage_v,temperature_c wavelet/short.csv
