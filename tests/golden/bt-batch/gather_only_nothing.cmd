bt-batch --gather-only
