bt-import bad/no_such_file.csv
