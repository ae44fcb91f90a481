bt-sim -m ecm/truth1rc.ecm --protocol hppc --soc-step 0.3 --soc-floor 0.3 --rest 600 --dt 2 | bt-fit --rc 1 --soc0 1 --capacity 2.3417 --max-iter 1
