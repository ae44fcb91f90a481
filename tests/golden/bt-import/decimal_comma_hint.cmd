bt-import bad/bom_crlf_semicolon.csv
