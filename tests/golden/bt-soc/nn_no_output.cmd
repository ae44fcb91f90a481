bt-soc train --target soc_true examples/drive.csv
