bt-rul -g cell --start-cycle 200 -m linear --horizon 670 rul/fade.csv
