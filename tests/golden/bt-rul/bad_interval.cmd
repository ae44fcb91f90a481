bt-rul --interval 0 rul/short.csv
