bt-import bad/nul_byte.csv
