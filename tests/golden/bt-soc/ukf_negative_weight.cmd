bt-soc -m ecm/linear2rc.ecm --ukf-alpha 0.001 --method ukf examples/drive.csv
