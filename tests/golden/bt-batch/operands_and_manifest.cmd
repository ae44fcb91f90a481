bt-batch --outdir /nonexistent/o --manifest - 'bt-import {in}' import/arbin.csv
