bt-rul -g cell --start-cycle 200 -m linear rul/fade.csv
