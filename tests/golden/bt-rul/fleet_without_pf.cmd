bt-rul --fleet rul/fade.csv rul/short.csv
