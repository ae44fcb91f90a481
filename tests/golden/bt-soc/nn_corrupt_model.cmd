bt-soc --method nn --net soc/corrupt.btnet examples/drive.csv
