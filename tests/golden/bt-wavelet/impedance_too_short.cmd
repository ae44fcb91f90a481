bt-wavelet impedance wavelet/short.csv
