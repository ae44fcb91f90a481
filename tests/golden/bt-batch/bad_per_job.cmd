bt-batch --per-job 2.5 --outdir /nonexistent/o 'bt-import {in}' import/arbin.csv
