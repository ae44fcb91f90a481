bt-wavelet waverec wavelet/no_detail.csv
