bt-sim -m ecm/bad_version.ecm --protocol hppc
