bt-sim -m ecm/linear2rc.ecm --protocol walk
