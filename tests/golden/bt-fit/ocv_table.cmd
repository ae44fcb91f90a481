bt-fit --mode ocv -p 6 --map soc_discharge=SOC_discharge*0.01 --map ocv_discharge_v=OCV_discharge_V --map soc_charge=SOC_charge*0.01 --map ocv_charge_v=OCV_charge_V fit/ocv_branches.csv
