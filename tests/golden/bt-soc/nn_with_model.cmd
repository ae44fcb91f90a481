bt-soc -m ecm/linear2rc.ecm --method nn --net net/torch_lstm.btnet examples/drive.csv
