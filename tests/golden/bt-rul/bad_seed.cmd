bt-rul --seed 1.5 rul/short.csv
