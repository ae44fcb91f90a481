bt-batch --outdir /nonexistent/o 'bt-import x.csv' import/arbin.csv
