bt-plot --preset fit --reference soc_true examples/drive.csv
