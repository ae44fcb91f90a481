bt-soc train --target soc_true --window 4 -o m.net examples/drive.csv
