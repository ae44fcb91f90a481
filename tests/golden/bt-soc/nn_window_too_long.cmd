bt-soc train -q --target soc_true --window 400 -o /nonexistent/m.net examples/drive.csv
