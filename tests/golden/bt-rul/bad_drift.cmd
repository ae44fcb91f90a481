bt-rul --pf-drift -0.1 rul/short.csv
