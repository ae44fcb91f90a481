bt-batch --gather-only import/nasa.expected.csv batch/with_cell.csv
