printf "time_s,voltage_v\n0,3.7182\n1,3.7o11\n" | bt-plot -x time_s -y voltage_v
