bt-soc --method nn --net net/torch_lstm.btnet soc/missing_temperature.csv
