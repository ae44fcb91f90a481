bt-soh history --flag-window 4 soh/history.csv
