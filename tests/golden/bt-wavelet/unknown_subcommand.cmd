bt-wavelet smooth -c voltage_v wavelet/short.csv
