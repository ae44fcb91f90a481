bt-import bad/truncated.csv.gz
