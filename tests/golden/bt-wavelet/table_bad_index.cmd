bt-wavelet idwt wavelet/bad_index.csv
