bt-sim -m ecm/linear2rc.ecm examples/semicolon_export.csv
