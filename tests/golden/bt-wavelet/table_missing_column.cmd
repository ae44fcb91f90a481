bt-wavelet waverec wavelet/short.csv
