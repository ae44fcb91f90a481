printf "time_s,voltage_v\n0,\n1,nan\n" | bt-plot -x time_s -y voltage_v
