bt-soc -m ecm/linear2rc.ecm --soc0 0.5 bad/time_backwards.csv
