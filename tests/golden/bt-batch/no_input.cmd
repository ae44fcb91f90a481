bt-batch --outdir /nonexistent/o 'bt-import {in}'
