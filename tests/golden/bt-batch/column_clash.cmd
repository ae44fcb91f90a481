bt-batch --gather-only batch/with_cell.csv
