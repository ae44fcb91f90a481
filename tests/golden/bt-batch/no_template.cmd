bt-batch --outdir /nonexistent/o
