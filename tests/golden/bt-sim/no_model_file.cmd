bt-sim -m ecm/no_such.ecm --protocol hppc
