bt-rul -m pf --pf-model life rul/short.csv
