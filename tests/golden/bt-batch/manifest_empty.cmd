bt-batch --outdir /nonexistent/o --manifest /dev/null 'bt-import {in}'
