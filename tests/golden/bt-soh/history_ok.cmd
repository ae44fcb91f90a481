bt-soh history --flag-window 5 --reference-cycles 1 soh/history.csv
