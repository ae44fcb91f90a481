bt-batch --suffix csv/x --outdir /nonexistent/o 'bt-import {in}' import/arbin.csv
