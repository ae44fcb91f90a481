bt-batch 'bt-import {in}' import/arbin.csv
