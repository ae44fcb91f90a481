bt-import bad/header_only.csv
