bt-wavelet impedance wavelet/constant_current.csv
