bt-wavelet dwt -c voltage_v wavelet/short.csv wavelet/short.csv
