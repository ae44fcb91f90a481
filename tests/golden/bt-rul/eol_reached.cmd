bt-rul -g cell --eol-capacity 0.95 -m linear rul/fade.csv
