bt-sim -m ecm/linear2rc.ecm --soc0 1.5 --protocol hppc
