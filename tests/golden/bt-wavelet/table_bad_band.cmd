bt-wavelet waverec wavelet/bad_band.csv
