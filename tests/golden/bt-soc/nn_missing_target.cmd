bt-soc train -q --target soc_ref -o /nonexistent/m.net examples/drive.csv
