bt-rul --pf-knee -1 rul/short.csv
