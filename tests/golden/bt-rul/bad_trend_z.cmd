bt-rul --trend-z -1 rul/short.csv
