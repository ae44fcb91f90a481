bt-batch --outdir /nonexistent/o 'bt-import {in}' import/arbin.csv ./import/arbin.csv
