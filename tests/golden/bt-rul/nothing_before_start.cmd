bt-rul --start-cycle 0.5 rul/short.csv
