bt-batch --gather-only import/arbin.expected.csv import/bitrode.expected.csv
