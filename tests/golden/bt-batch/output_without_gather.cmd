bt-batch -o fleet.csv --outdir /nonexistent/o 'bt-import {in}' import/arbin.csv
