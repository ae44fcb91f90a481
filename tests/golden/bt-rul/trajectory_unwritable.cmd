bt-rul -g cell -m linear --start-cycle 200 --trajectory /nonexistent/t.csv rul/fade.csv
