printf 'time_s,current_a,voltage_v\n' | bt-soh cycles
