bt-soc --method nn --net net/torch_lstm.btnet examples/semicolon_export.csv
