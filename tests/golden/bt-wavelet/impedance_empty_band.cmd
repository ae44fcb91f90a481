bt-wavelet impedance --fmin 0.3 --fmax 0.2 wavelet/constant_current.csv
