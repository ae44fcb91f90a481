bt-wavelet impedance --excitation 1 wavelet/short.csv
