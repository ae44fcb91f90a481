bt-rul --hampel-threshold -1 rul/short.csv
