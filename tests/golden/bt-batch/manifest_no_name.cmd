printf 'import/arbin.csv\n..\n' | bt-batch --outdir /nonexistent/o --manifest - 'bt-import {in}'
