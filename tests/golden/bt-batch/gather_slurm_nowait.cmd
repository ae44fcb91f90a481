bt-batch -e slurm --gather --outdir /nonexistent/o 'bt-import {in}' import/arbin.csv
