bt-soh
