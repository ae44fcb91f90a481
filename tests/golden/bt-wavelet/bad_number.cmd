bt-wavelet denoise -c current_a,voltage_v bad/non_numeric.csv
