bt-wavelet
