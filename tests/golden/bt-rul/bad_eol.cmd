bt-rul --eol 1.2 rul/short.csv
