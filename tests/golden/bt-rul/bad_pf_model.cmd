bt-rul --pf-model pf rul/short.csv
