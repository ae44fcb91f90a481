#!/usr/bin/env bats
# bt-rul.bats - forecasts against a synthetic fade whose truth is known
# (scripts/make-rul-fixtures), an analytic line, determinism, the fleet's
# leave-one-out, trajectories, errors (golden files), and the public data.

load helpers

FADE="$DATA/rul/fade.csv"
TRUTH="$DATA/rul/fade.truth"

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "golden files: every message and exit status" {
	for cmd in "$GOLDEN"/bt-rul/*.cmd; do
		c=$(basename "$cmd" .cmd)
		golden bt-rul "$c" || { echo "case $c"; return 1; }
	done
}

@test "synthetic fade from 50 % of life: truth inside the 90 % interval, median within 10 %, outliers found" {
	# Double exponential + noise + outliers + regeneration bumps; the fleet
	# is the other two cells (the file is its own fleet: a cell is left
	# out of its own prior).  A window of 31 points keeps the Hampel
	# filter from calling noise outliers.
	tail -n +2 "$TRUTH" | while IFS=, read -r cell eol q0 outliers; do
		start=$((eol / 2))
		line=$(awk -v q="$q0" 'BEGIN { printf "%.6f", 0.8 * q }')
		injected=$(for k in $outliers; do [ "$k" -le "$start" ] && echo "$k"; done | wc -l)
		grep -E "^(cell|$cell)," "$FADE" >cell.csv
		bt-rul -q -g cell -m pf --pf-model dexp --fleet "$FADE" --hampel-window 31 \
			--start-cycle "$start" --eol-capacity "$line" cell.csv >out.csv
		awk -F, -v eol="$eol" -v s="$start" -v inj="$injected" 'NR == 2 {
			t = eol - s; e = $9 - t
			printf "%s: true RUL %d, predicted %s [%s, %s], error %+g (limit %.1f), flagged %s of %d injected\n",
			       $1, t, $9, $10, $11, e, 0.1 * t, $4, inj
			exit !($2 == "pf:dexp" && $10 <= t && t <= $11 && $11 != "" &&
			       (e < 0 ? -e : e) <= 0.1 * t && $4 == inj) }' out.csv
	done
}

@test "the default pool with a fleet: linear, exp, power and the fleet's lives; truth inside the interval from 50 % of life" {
	# The fleet cells' lives (the other two cells') take their stacking
	# share of the members: the interval reaches down to them, where the
	# line and the exponential, which cannot bend through the knee, are
	# late.
	tail -n +2 "$TRUTH" | while IFS=, read -r cell eol q0 outliers; do
		start=$((eol / 2))
		line=$(awk -v q="$q0" 'BEGIN { printf "%.6f", 0.8 * q }')
		grep -E "^(cell|$cell)," "$FADE" >cell.csv
		bt-rul -q -g cell -m pf --fleet "$FADE" --hampel-window 31 \
			--start-cycle "$start" --eol-capacity "$line" cell.csv >out.csv
		awk -F, -v t=$((eol - start)) 'NR == 2 {
			printf "%s: true RUL %d, %s [%s, %s] by %s\n", $1, t, $9, $10, $11, $2
			exit !($2 == "pf:linear+exp+power+life" && $10 <= t && t <= $11 && $11 != "") }' out.csv
	done
}

@test "a noise-free line: the end of life is the analytic crossing" {
	# Q = 2.0113 - 0.0031 k reaches 1.5 Ah at k = 164.9: cycle 165.
	awk 'BEGIN { print "cycle,capacity_ah"; for (k = 1; k <= 40; k++) printf "%d,%.10f\n", k, 2.0113 - 0.0031 * k }' >line.csv
	bt-rul -m linear --hampel-window 0 --eol-capacity 1.5 line.csv >out.csv
	[ "$(cut -d, -f1,8- out.csv | tail -n 1)" = "linear,125,125,125,165" ]
	# The reference is the mean of the first five points.
	[ "$(cut -d, -f5 out.csv | tail -n 1)" = "2.0020000000000002" ]
}

@test "the same seed gives the same bytes, another seed another sample" {
	for s in 7 7 8; do
		bt-rul -q -g cell -m pf --fleet "$FADE" --start-cycle 250 --seed "$s" \
			--trajectory "t$s.csv" "$FADE" >>"o$s.csv"
	done
	bt-rul -q -g cell -m pf --fleet "$FADE" --start-cycle 250 --seed 7 "$FADE" >again.csv
	head -n 4 o7.csv | cmp - again.csv
	! cmp -s again.csv o8.csv
}

@test "a fleet cell with the forecast cell's name is left out" {
	grep -E '^(cell|S1),' "$FADE" >s1.csv
	grep -vE '^S1,' "$FADE" >others.csv
	bt-rul -q -g cell -m pf --fleet "$FADE" --start-cycle 260 s1.csv >with.csv
	bt-rul -q -g cell -m pf --fleet others.csv --start-cycle 260 s1.csv >without.csv
	cmp with.csv without.csv
}

@test "the trajectory runs from the next cycle to the upper end, its band ordered" {
	bt-rul -q -g cell -m pf --pf-model dexp --fleet "$FADE" --start-cycle 280 \
		--trajectory path.csv "$FADE" >out.csv
	[ "$(head -n 1 path.csv)" = "cell,cycle,forecast,forecast_lo,forecast_hi" ]
	awk -F, 'NR == FNR { if (FNR > 1) { hi[$1] = $5 + $11; med[$1] = $12; line[$1] = $7 } next }
		FNR == 1 { next }
		$1 != c { if (c != "" && last != ceil(hi[c])) bad = bad " end " c; c = $1; first = $2
			  if (first != 281) bad = bad " start " c }
		{ if (!($4 <= $3 && $3 <= $5)) bad = bad " band " $2
		  if ($2 == med[c] - 1 && $3 <= line[c]) bad = bad " crossed early"
		  if ($2 == med[c] && $3 > line[c] + 1e-3) bad = bad " not crossed " $3
		  last = $2; n++ }
		function ceil(x) { return x == int(x) ? x : int(x) + 1 }
		END { if (last != ceil(hi[c])) bad = bad " end"; print n " rows" bad; exit bad != "" }' out.csv path.csv
}

@test "NASA PCoE capacities: end of life where a numpy Hampel filter puts it" {
	need_shared nasa_pcoe_battery
	# First cleaned crossings of 1.4 Ah (scripts/eval/rul's own filter):
	# B0005 125, B0006 109, B0018 97; B0007 never reaches it.
	run bt-rul -q -g battery_id --eol-capacity 1.4 \
		"$SHARED/nasa_pcoe_battery/nasa_capacity_B0005_B0006_B0007_B0018.csv"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | cut -d, -f1,12 | tr '\n' ' ')" = \
		"battery_id,eol_cycle B0005,125 B0006,109 B0007,169 B0018,97 " ] ||
		{ printf '%s\n' "${lines[@]}"; return 1; }
}

@test "CALCE CS2: discharge_capacity_ah is read, outliers and end of life as numpy finds them" {
	need_shared calce_cs2_capacity_fade
	# numpy's Hampel filter (window 11, 3 robust sd): 59 and 57 points,
	# first cleaned cycle at or below 80 % of the reference: 544 and 501.
	for c in 35:59:544 36:57:501; do
		n=${c%%:*} rest=${c#*:}
		bt-rul -q "$SHARED/calce_cs2_capacity_fade/calce_cs2_${n}_per_cycle.csv" >out.csv
		[ "$(tail -n 1 out.csv | cut -d, -f3,11)" = "${rest%%:*},${rest#*:}" ] ||
			{ cat out.csv; return 1; }
	done
}

@test "bt-rul keeps the history but reads a long stream without trouble" {
	awk 'BEGIN { print "cell,cycle,capacity_ah"
		for (c = 0; c < 50; c++) for (k = 1; k <= 2000; k++)
			printf "c%d,%d,%.6f\n", c, k, 2 - 0.0004 * k * (1 + c / 100) + 0.001 * sin(k * 1.7) }' >many.csv
	bt-rul -q -g cell -m linear --particles 200 many.csv >out.csv
	[ "$(wc -l <out.csv)" -eq 51 ]
}
