bt-sim -m ecm/bad_number.ecm --protocol hppc
