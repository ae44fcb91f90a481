bt-batch -j 0 --outdir /nonexistent/o 'bt-import {in}' import/arbin.csv
