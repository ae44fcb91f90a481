bt-sim --protocol hppc
