bt-soc examples/profile.csv
