bt-soc --method nn --stream batch --net net/torch_lstm.btnet examples/drive.csv
