#!/usr/bin/env bats
# bt-sim.bats - the simulator against closed forms, its protocols, noise,
# profiles and errors.

load helpers

LINEAR="$DATA/ecm/linear2rc.ecm"
ECM="$BT_SRCDIR/datasets/nmc18650.ecm"

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "a current step matches the analytic 2RC response to 1e-9 V" {
	# Linear OCV and constant parameters: soc(t) = z0 + I t / 3600 Q and
	# V(t) = OCV(soc) + R0 I + sum R_k I (1 - exp(-t / tau_k)); dt = 0.7 s
	# divides neither time constant.
	bt-sim -m "$LINEAR" --protocol cc --current -1.3377 --soc0 0.8 \
		--duration 700 --dt 0.7 >step.csv
	awk -F, -v I=-1.3377 -v Q=2.1718 -v z0=0.8 'NR > 1 {
		t = $1; if (t == 0) next
		z = z0 + I * t / (3600 * Q)
		v = 3.2113 + (4.1927 - 3.2113) * z + 0.0271 * I \
		    + 0.0153 * I * (1 - exp(-t / 7.31)) + 0.0219 * I * (1 - exp(-t / 183.7))
		e = $3 - v; if (e < 0) e = -e; if (e > m) m = e
		ez = $5 - z; if (ez < 0) ez = -ez; if (ez > mz) mz = ez; n++
	} END { printf "rows %d, max |dV| %.3g, max |dsoc| %.3g\n", n, m, mz
		exit !(n >= 999 && m < 1e-9 && mz < 1e-12) }' step.csv
}

@test "the same seed gives the same bytes, another seed other noise" {
	bt-sim -m "$ECM" --protocol drive --duration 600 --voltage-noise 0.002 --seed 11 >a.csv
	bt-sim -m "$ECM" --protocol drive --duration 600 --voltage-noise 0.002 --seed 11 >b.csv
	bt-sim -m "$ECM" --protocol drive --duration 600 --voltage-noise 0.002 --seed 12 >c.csv
	cmp a.csv b.csv
	! cmp -s a.csv c.csv
}

@test "sensor noise and bias have the asked statistics" {
	bt-sim -m "$ECM" --protocol drive --duration 7200 --soc0 0.95 \
		--voltage-noise 0.002 --current-noise 0.01 --current-bias 0.02 \
		--seed 3 --truth >noisy.csv
	awk -F, 'NR > 1 { dv = $3 - $8; di = $2 - $7; n++
		sv += dv; svv += dv * dv; si += di; sii += di * di }
		END { mv = sv / n; sdv = sqrt(svv / n - mv * mv)
		      mi = si / n; sdi = sqrt(sii / n - mi * mi)
		      printf "n %d  voltage noise mean %.2g sd %.4g  current error mean %.4g sd %.4g\n", n, mv, sdv, mi, sdi
		      exit !(n > 3000 && mv < 2e-4 && mv > -2e-4 && sdv > 0.0019 && sdv < 0.0021 &&
			     mi > 0.0195 && mi < 0.0205 && sdi > 0.0095 && sdi < 0.0105) }' noisy.csv
}

@test "soc_true is the coulomb count of the true current" {
	bt-sim -m "$ECM" --protocol drive --duration 3600 --soc0 0.9 --truth >drive.csv
	# The model's coulombic efficiency (0.999) applies to charge current.
	awk -F, 'NR == 2 { z0 = $5 } NR > 2 { q += (pi > 0 ? 0.999 : 1) * pi * ($1 - pt) }
		NR > 1 { pi = $7; pt = $1; z = $5 }
		END { e = z - (z0 + q / 3600 / 2.5); if (e < 0) e = -e
		      printf "soc %.6f -> %.6f, coulomb-count error %.3g\n", z0, z, e; exit !(e < 1e-9) }' drive.csv
}

@test "replaying a protocol's true current as a profile gives its true voltage" {
	bt-sim -m "$ECM" --protocol drive --duration 900 --soc0 0.8 --truth >drive.csv
	awk -F, 'BEGIN { OFS = "," } { print $1, $7 }' drive.csv |
		sed '1s/.*/time_s,current_a/' >profile.csv
	bt-sim -m "$ECM" --soc0 0.8 profile.csv >replay.csv
	paste -d, drive.csv replay.csv | awk -F, 'NR > 1 { e = $8 - $11; if (e < 0) e = -e; if (e > m) m = e }
		END { printf "max |dV| %.3g\n", m; exit !(m < 1e-12) }'
}

@test "HPPC pulses have the documented lengths and currents" {
	bt-sim -m "$ECM" --protocol hppc >hppc.csv
	# Count the samples of each step run, and their current (1C = 2.5 A).
	awk -F, 'NR > 1 { if ($6 != s) { if (s != "") print s, n, cur; s = $6; n = 0; cur = $2 } n++ }
		END { print s, n, cur }' hppc.csv >runs.txt
	# Ten pulse sets: at 100 %, 90 %, ..., 10 %.
	[ "$(grep -c '^2 ' runs.txt)" -eq 10 ]
	[ "$(grep -c '^2 10 -2.5$' runs.txt)" -eq 10 ]
	[ "$(grep -c '^4 10 1.875$' runs.txt)" -eq 10 ]
	[ "$(grep -c '^3 40 0$' runs.txt)" -eq 10 ]
	# The last pulse set is at 10 % state of charge.
	awk -F, '$6 == 2 && prev != 2 { z = $5 } { prev = $6 } END { exit !(z > 0.0999 && z < 0.101) }' hppc.csv
}

@test "a cc discharge stops at --until-v" {
	run bt-sim -m "$ECM" --protocol cc --current -2.5 --until-v 3.3 --dt 5
	[ "$status" -eq 0 ]
	last=${lines[${#lines[@]}-1]}
	prev=${lines[${#lines[@]}-2]}
	awk -F, -v a="$prev" -v b="$last" 'BEGIN { split(a, p, ","); split(b, q, ",")
		exit !(p[3] > 3.3 && q[3] <= 3.3) }'
}

@test "profile: other columns follow, colliding names become input_NAME" {
	printf 'time_s,current_a,voltage_v,note\n0,0,3.9,rest\n10,-2.5,3.8,pulse\n20,0,3.85,rest\n' >p.csv
	run bt-sim -m "$ECM" --soc0 0.7 p.csv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "time_s,current_a,voltage_v,temperature_c,soc_true,input_voltage_v,note" ]
	[[ "${lines[2]}" == 10,-2.5,*,3.8,pulse ]]
}

@test "profile: --discharge-positive and mA through --map" {
	printf 'time_s,mA\n0,0\n10,2500\n20,2500\n' >p.csv
	bt-sim -m "$ECM" --soc0 0.7 --map current_a='mA*0.001' --discharge-positive p.csv >a.csv
	printf 'time_s,current_a\n0,0\n10,-2.5\n20,-2.5\n' >q.csv
	bt-sim -m "$ECM" --soc0 0.7 q.csv >b.csv
	cmp a.csv b.csv
}

@test "a profile that empties the cell stops before that row, with a warning" {
	printf 'time_s,current_a\n0,-2.5\n600,-2.5\n3600,-2.5\n7200,-2.5\n' >p.csv
	bt-sim -m "$ECM" --soc0 0.5 --dt 60 p.csv >out.csv 2>err.txt
	[ "$(cat err.txt)" = "bt-sim: p.csv:4: stopped before this row: soc left [0, 1]" ]
	[ "$(wc -l <out.csv)" -eq 3 ]
	run bt-sim -q -m "$ECM" --soc0 0.5 --dt 60 p.csv
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
}

@test "bad model: invalid number" { golden bt-sim bad_model_number; }
@test "bad model: unknown version" { golden bt-sim bad_model_version; }
@test "model file missing" { golden bt-sim no_model_file; }
@test "no model: exit 2" { golden bt-sim no_model; }
@test "cc without --current: exit 2" { golden bt-sim cc_without_current; }
@test "unknown protocol: exit 2" { golden bt-sim unknown_protocol; }
@test "a protocol and a profile: exit 2" { golden bt-sim protocol_and_profile; }
@test "zero --dt: exit 2" { golden bt-sim bad_dt; }
@test "negative noise: exit 2" { golden bt-sim negative_noise; }
@test "initial soc out of range" { golden bt-sim bad_soc0; }
@test "profile time going backwards" { golden bt-sim profile_time_backwards; }
@test "profile without current" { golden bt-sim profile_no_current; }
@test "profile with decimal commas gets a hint" { golden bt-sim profile_decimal_comma_hint; }
