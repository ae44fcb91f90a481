bt-wavelet denoise wavelet/short.csv
