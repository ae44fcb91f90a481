bt-import --map time_s=Zeit --map current_a=Strom --map voltage_v=Spannung bad/unrecognised.csv
