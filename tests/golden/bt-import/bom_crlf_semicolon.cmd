bt-import --decimal-comma bad/bom_crlf_semicolon.csv
