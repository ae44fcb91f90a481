bt-fit --soc0 0.5 fit/charge_pulses.csv
