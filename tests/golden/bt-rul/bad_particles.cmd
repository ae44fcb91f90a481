bt-rul --particles 1 rul/short.csv
