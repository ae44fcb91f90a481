bt-batch --outdir /nonexistent/o --manifest no-such-list 'bt-import {in}'
