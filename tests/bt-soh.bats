#!/usr/bin/env bats
# bt-soh.bats - per-cycle health against a simulated cell that fades at a
# known rate, the state-of-health stage, NASA's capacities, and errors.

load helpers

FADE_ECM="$DATA/soh/fade.ecm"
# The fading cell: cycle k has capacity Q0 (1 - FADE (k - 1)) and every
# resistance (1 + GROWTH (k - 1)) times the base of tests/data/soh/fade.ecm.
Q0=2.0417 FADE=0.0125 GROWTH=0.0231 NCYCLES=6

# make_cycles FILE: simulate NCYCLES cycles of the fading cell, each from
# soc 0.95 on its own scaled model: 20 s rest, a 2 A discharge of exactly
# 0.9 Q_k (to soc 0.05), 20 s rest, a 1 A charge of exactly 0.5 Q_k, 10 s
# rest.  Times run on across cycles; the profile's cycle column follows.
make_cycles() {
	local k out=$1 cell prof
	for k in $(seq 1 "$NCYCLES"); do
		cell="$BATS_TEST_TMPDIR/cell$k.ecm" prof="$BATS_TEST_TMPDIR/prof$k.csv"
		awk -v k="$k" -v fade="$FADE" -v grow="$GROWTH" 'BEGIN { OFS = "," }
			/^capacity_ah/ { printf "capacity_ah %.12g\n", $2 * (1 - fade * (k - 1)); next }
			/^25,/ { n = split($0, f, ","); g = 1 + grow * (k - 1)
				 print f[1], f[2], f[3], f[4] * g, f[5] * g, f[6], f[7] * g, f[8]; next }
			{ print }' "$FADE_ECM" >"$cell"
		awk -v k="$k" -v q0="$Q0" -v fade="$FADE" 'BEGIN {
			q = q0 * (1 - fade * (k - 1)); off = 20000 * (k - 1)
			d = 0.9 * q * 3600 / 2; c = 0.5 * q * 3600 / 1
			print "time_s,current_a,cycle"
			for (t = 0; t < 20; t++) print off + t ",0," k
			for (t = 20; t < 20 + d; t++) print off + t ",-2," k
			te = 20 + d; print off + te ",0," k
			for (t = int(te) + 1; t < te + 20; t++) print off + t ",0," k
			tc = te + 20
			for (t = tc; t < tc + c; t++) printf "%.10g,1,%d\n", off + t, k
			te = tc + c; printf "%.10g,0,%d\n", off + te, k
			for (t = int(te) + 1; t < te + 10; t++) print off + t ",0," k
		}' >"$prof"
		bt-sim -q -m "$cell" --soc0 0.95 "$prof" -p 10 >"$prof.out"
		if [ "$k" -eq 1 ]; then cat "$prof.out"; else tail -n +2 "$prof.out"; fi
	done >"$out"
}

# check_truth FILE: each cycle's capacity_ah, charge_ah and resistances of
# bt-soh cycles output FILE against the analytic truth of the fading cell.
check_truth() {
	awk -F, -v q0="$Q0" -v fade="$FADE" -v grow="$GROWTH" -v n="$NCYCLES" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{ k = $col["cycle"]; q = q0 * (1 - fade * (k - 1)); g = 1 + grow * (k - 1)
	  eq = $col["capacity_ah"] / (0.9 * q) - 1
	  ec = $col["charge_ah"] / (0.5 * q) - 1
	  r1 = g * (0.0307 + 0.0149 * (1 - exp(-1 / 7.93)) + 0.0211 * (1 - exp(-1 / 193.1)))
	  r10 = g * (0.0307 + 0.0149 * (1 - exp(-10 / 7.93)) + 0.0211 * (1 - exp(-10 / 193.1)))
	  e1 = $col["r_dc_1s_ohm"] / r1 - 1; e10 = $col["r_dc_10s_ohm"] / r10 - 1
	  printf "cycle %d: capacity %+.2e, charge %+.2e, r_1s %+.2e, r_10s %+.2e\n", k, eq, ec, e1, e10
	  if (eq * eq > 0.002^2 || ec * ec > 0.002^2 || e1 * e1 > 0.02^2 || e10 * e10 > 0.02^2) bad++
	  rows++ }
	END { exit !(rows == n && bad == 0) }' "$1"
}

setup_file() {
	make_cycles "$BATS_FILE_TMPDIR/cycles.csv"
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	CYCLES="$BATS_FILE_TMPDIR/cycles.csv"
}

@test "a fading cell: capacity within 0.2 %, resistance within 2 % per cycle" {
	bt-soh cycles "$CYCLES" >out.csv
	check_truth out.csv
}

@test "cycles found from the current's sign give the same cycles" {
	cut -d, -f1-5 "$CYCLES" >nocycle.csv
	bt-soh cycles nocycle.csv >out.csv
	check_truth out.csv
	# the cycle column's cycles and the detected ones split at other rows
	# (the leading rest goes with the cycle before) but integrate alike
	[ "$(wc -l <out.csv)" -eq $((NCYCLES + 1)) ]
}

@test "soh against the median of the first cycles, or a given reference" {
	bt-soh cycles --reference-cycles 5 "$CYCLES" >med.csv
	bt-soh cycles --reference-capacity 1.8 "$CYCLES" >ref.csv
	# median of cycles 1-5 is cycle 3's capacity: soh_k = Q_k / Q_3
	awk -F, -v fade="$FADE" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{ k = $col["cycle"]; want = (1 - fade * (k - 1)) / (1 - 2 * fade)
		  e = $col["soh"] / want - 1; if (e < 0) e = -e; if (e > m) m = e; n++ }
		END { printf "max relative soh error %.3g\n", m; exit !(n == 6 && m < 0.002) }' med.csv
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{ e = $col["soh"] - $col["capacity_ah"] / 1.8; if (e < 0) e = -e; if (e > m) m = e; n++ }
		END { exit !(n == 6 && m < 1e-15) }' ref.csv
}

@test "bt-soh cycles | bt-rul works unchanged" {
	bt-soh cycles "$CYCLES" | bt-rul -q -m linear --min-points 3 >rul.csv
	head -n 1 rul.csv | grep -q '^model,'
	[ "$(wc -l <rul.csv)" -eq 2 ]
}

@test "--group: two cells in one stream, each with its own reference" {
	awk -F, 'NR == 1 { print "battery_id," $0; next } { print "A," $0 }' "$CYCLES" >two.csv
	awk -F, 'NR > 1 && $6 > 3 { print "B," $0 }' "$CYCLES" >>two.csv
	bt-soh cycles -g battery_id --reference-cycles 1 two.csv >out.csv
	head -n 1 out.csv | grep -q '^battery_id,cycle,start_time_s,'
	awk -F, '$1 == "A" && $2 == 1 && $8 == 1 { a++ } $1 == "B" && $2 == 4 && $8 == 1 { b++ }
		$1 == "B" { nb++ } END { exit !(a == 1 && b == 1 && nb == 3) }' out.csv
}

@test "the cutoff stops capacity_ah at the crossing interval" {
	printf 'time_s,current_a,voltage_v\n0,-1.25,3.0124\n10,-1.25,2.8316\n20,-1.25,2.6573\n30,-1.25,2.6101\n40,0,2.9902\n' >cut.csv
	run bt-soh cycles --cutoff-v 2.7 --delay 5 cut.csv
	[ "$status" -eq 0 ]
	# 20 s and 35 s of 1.25 A
	[ "$(echo "${lines[1]}" | cut -d, -f5,9)" = "0.006944444444444444,0.012152777777777778" ]
	[ "$(echo "${lines[0]}" | awk -F, '{ print $NF }')" = r_dc_5s_ohm ]
}

@test "history: soh and flags of a per-cycle table" {
	printf 'cycle,discharge_capacity_ah\n1,1.1382\n2,1.1371\n3,1.1369\n4,0.8127\n5,1.1352\n6,1.1348\n7,1.1341\n' >hist.csv
	run bt-soh history --reference-capacity 1.1 --flag-window 5 hist.csv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = cycle,capacity_ah,soh,flag ]
	[ "${lines[4]}" = "4,0.8127,0.7388181818181817,1" ]
	[ "$(printf '%s\n' "${output}" | awk -F, '$4 == 1' | wc -l)" -eq 1 ]
}

@test "NASA B0005: capacity to 2.7 V reproduces NASA's within 0.2 % every cycle" {
	need_shared nasa_pcoe_battery
	d="$SHARED/nasa_pcoe_battery"
	bt-soh cycles --cutoff-v 2.7 -g battery_id "$d/B0005_discharge_timeseries_all_cycles.csv.gz" >b5.csv
	awk -F, 'NR == FNR { if ($1 == "B0005") ref[$2] = $6; next }
		FNR > 1 { e = ($6 - ref[$2]) / 2; if (e < 0) e = -e; if (e > m) m = e; n++ }
		END { printf "%d cycles, worst %.3g %% of 2 Ah\n", n, 100 * m; exit !(n == 168 && m < 0.002) }' \
		"$d/nasa_capacity_B0005_B0006_B0007_B0018.csv" b5.csv
}

@test "ica: dQ/dV peaks of a C/20 cycle within 5 mV of the OCV's inflection points" {
	# tests/data/soh/ica3peaks.ecm (scripts/gen-ica-ecm): dQ/dV peaks of
	# the OCV at 3.4517, 3.7283 and 3.9871 V; at 0.1 A in steady state the
	# terminal voltage is shifted by -/+ 0.1 (R0 + R1) = 1.84 mV.
	ecm="$DATA/soh/ica3peaks.ecm"
	bt-sim -q -m "$ecm" --protocol cc --current -0.1 --soc0 0.99 --duration 69840 \
		--dt 10 --voltage-noise 0.0005 --seed 5 >d.csv
	bt-sim -q -m "$ecm" --protocol cc --current 0.1 --soc0 0.02 --duration 69840 \
		--dt 10 --voltage-noise 0.0005 --seed 6 >c.csv
	awk -F, -v OFS=, 'NR == FNR { print; t = $1; next } FNR > 1 { $1 = $1 + t + 10; print }' \
		d.csv c.csv >dc.csv
	bt-soh ica --peaks dc.csv >peaks.csv
	head -n 1 peaks.csv | grep -qx 'cycle,direction,peak,voltage_v,height_ah_per_v,area_ah,width_v'
	awk -F, 'NR > 1 { shift = ($2 == "discharge" ? -1 : 1) * 0.1 * (0.0123 + 0.0061)
		c[1] = 3.4517; c[2] = 3.7283; c[3] = 3.9871
		e = $4 - (c[$3] + shift); if (e < 0) e = -e
		printf "%s peak %d at %.5f V: %.2f mV off\n", $2, $3, $4, 1000 * e
		if (e > 0.005) bad++; n++ }
		END { exit !(n == 6 && bad == 0) }' peaks.csv
	# the curve: increasing voltage per direction, dV/dQ its reciprocal
	bt-soh ica dc.csv >curve.csv
	head -n 1 curve.csv | grep -qx 'cycle,direction,voltage_v,capacity_ah,dqdv_ah_per_v,dvdq_v_per_ah'
	awk -F, 'NR > 1 { if ($2 == d && $3 <= v) bad++; d = $2; v = $3
		if ($5 > 0 && ($5 * $6 - 1 > 1e-12 || 1 - $5 * $6 > 1e-12)) bad++ }
		END { exit bad > 0 }' curve.csv
}

@test "train and predict: a model file, one soh per cycle, an ensemble interval" {
	ex="$DATA/examples/cycles.csv.gz"
	bt-soh train -q --epochs 8 --seed 3 -m a.btnet "$ex"
	bt-soh train -q --epochs 8 --seed 3 -m same.btnet "$ex"
	bt-soh train -q --epochs 8 --seed 4 -m b.btnet "$ex"
	cmp a.btnet same.btnet
	! cmp -s a.btnet b.btnet
	run bt-soh predict -m a.btnet "$ex"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = cycle,soh,soh_sd,soh_lo,soh_hi ]
	[ "${#lines[@]}" -eq 7 ]
	# one member: no spread, no interval
	[[ "${lines[1]}" == 1,*,,, ]]
	bt-soh predict -m a.btnet -m b.btnet "$ex" >two.csv
	awk -F, 'NR > 1 { if (!($3 > 0 && $4 < $2 && $2 < $5)) bad++
		d = $4 - ($2 - 1.959963984540054 * $3); if (d < 0) d = -d; if (d > 1e-12) bad++; n++ }
		END { exit !(n == 6 && bad == 0) }' two.csv
	# a model for curves with temperature does not read curves without
	zcat "$ex" | cut -d, -f1-3,5 >notemp.csv
	run bt-soh predict -m a.btnet notemp.csv
	fails_with 1 "bt-soh: a.btnet: not a soh model for curves of this input's 2 channels"
}

@test "errors: golden messages and exit statuses" {
	for c in "$GOLDEN"/bt-soh/*.cmd; do
		golden bt-soh "$(basename "$c" .cmd)"
	done
}
