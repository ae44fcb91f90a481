bt-batch --gather-only import/
