bt-sim -m ecm/linear2rc.ecm --dt 0 --protocol hppc
