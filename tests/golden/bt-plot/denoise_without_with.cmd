bt-plot --preset denoise examples/noisy_drive.csv.gz
