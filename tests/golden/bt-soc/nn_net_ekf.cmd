bt-soc -m ecm/linear2rc.ecm --net net/torch_lstm.btnet examples/drive.csv
