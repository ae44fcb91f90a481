bt-batch --suffix .csv.gz --outdir /nonexistent/o 'bt-import {in}' import/arbin.csv
