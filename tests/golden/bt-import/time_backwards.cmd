bt-import bad/time_backwards.csv
