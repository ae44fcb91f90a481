bt-plot --preset fade --with examples/cell.csv examples/cell.csv
