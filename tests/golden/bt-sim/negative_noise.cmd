bt-sim -m ecm/linear2rc.ecm --voltage-noise -1 --protocol hppc
