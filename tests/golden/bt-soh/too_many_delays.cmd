bt-soh cycles --delay 1 --delay 2 --delay 3 --delay 4 --delay 5 --delay 6 --delay 7 --delay 8 --delay 9 soh/backwards.csv
