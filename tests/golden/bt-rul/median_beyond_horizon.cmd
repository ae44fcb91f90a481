bt-rul -g cell --start-cycle 200 -m linear --horizon 500 rul/fade.csv
