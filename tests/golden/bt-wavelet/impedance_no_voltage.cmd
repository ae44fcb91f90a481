bt-wavelet impedance --voltage cell_v wavelet/short.csv
