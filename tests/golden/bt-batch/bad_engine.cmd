bt-batch -e pbs --outdir /nonexistent/o 'bt-import {in}' import/arbin.csv
