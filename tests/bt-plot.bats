#!/usr/bin/env bats
# bt-plot.bats - every preset renders a valid PNG, SVG and PDF from bundled
# data (inputs made here with bt-sim, bt-soc, bt-rul and bt-wavelet), the
# decimation keeps the min/max envelope through the command, and every error
# message is pinned by a golden file.

load helpers

ECM="$BT_SRCDIR/datasets/nmc18650.ecm"
EX="$DATA/examples"

setup() {
	command -v gnuplot >/dev/null || skip "gnuplot not installed (scripts/install-deps installs gnuplot-nox)"
	cd "$BATS_TEST_TMPDIR"
}

# is_png FILE W H: PNG magic bytes, and W x H in the IHDR chunk.
is_png() {
	[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		{ echo "$1: not a PNG"; return 1; }
	[ "$(od -An -tu1 -j 16 -N 8 "$1" | awk '{ print $3 * 256 + $4, $7 * 256 + $8 }')" = "$2 $3" ] ||
		{ echo "$1: not $2 x $3"; return 1; }
	[ "$(wc -c <"$1")" -gt 10000 ] || { echo "$1: too small"; return 1; }
}

# is_svg FILE NAME...: an SVG document whose text holds each NAME.
is_svg() {
	local f=$1
	shift
	head -c 200 "$f" | grep -q '<svg' || { echo "$f: not an SVG"; return 1; }
	tail -c 20 "$f" | grep -q '</svg>' || { echo "$f: truncated"; return 1; }
	[ "$(wc -c <"$f")" -gt 10000 ] || { echo "$f: too small"; return 1; }
	for n in "$@"; do
		grep -qF ">$n<" "$f" || { echo "$f: no series '$n'"; return 1; }
	done
}

is_pdf() {
	[ "$(head -c 5 "$1")" = "%PDF-" ] || { echo "$1: not a PDF"; return 1; }
	[ "$(wc -c <"$1")" -gt 5000 ] || { echo "$1: too small"; return 1; }
}

# render NAME ARGS...: bt-plot ARGS to NAME.png, NAME.svg and NAME.pdf.
render() {
	local name=$1
	shift
	bt-plot "$@" -o "$name.png"
	bt-plot "$@" -o "$name.svg"
	bt-plot "$@" -o "$name.pdf"
	is_png "$name.png" 1024 640
	is_pdf "$name.pdf"
}

@test "--preset soc: soc with its interval against the reference" {
	bt-soc -q -m "$ECM" --method ekf --soc0 0.7 "$EX/drive.csv" -o soc.csv
	render soc --preset soc soc.csv
	is_svg soc.svg soc soc_true soc_lo..soc_hi "SoC (%)" "time (s)"
	# --reference names another column; a missing one is an error.
	bt-plot --preset soc --reference soc_true --title 'EKF, 0.7 start' soc.csv -o ref.svg
	is_svg ref.svg soc_true "EKF, 0.7 start"
}

@test "--preset fit: bt-soc's model voltage, and bt-sim's on a measured profile" {
	bt-soc -q -m "$ECM" --method ukf "$EX/drive.csv" -o soc.csv
	render fit --preset fit soc.csv
	is_svg fit.svg voltage_v v_model_v "residual (mV)"
	# bt-sim on the measured current keeps the measured voltage as input_voltage_v.
	bt-sim -m "$ECM" --soc0 0.8 "$EX/drive.csv" -o sim.csv
	render sim --preset fit sim.csv
	is_svg sim.svg input_voltage_v voltage_v
}

@test "--preset fade: the capacity history with the bt-rul forecast and its interval" {
	bt-rul -q -m exp --trajectory path.csv "$EX/cell.csv" >/dev/null
	render fade --preset fade --with path.csv "$EX/cell.csv"
	is_svg fade.svg capacity_ah forecast forecast_lo..forecast_hi "capacity (Ah)" cycle
	# Without the forecast, the history alone.
	bt-plot --preset fade "$EX/cell.csv" -o hist.svg
	is_svg hist.svg capacity_ah
	! grep -qF '>forecast<' hist.svg
}

@test "--preset ica: dQ/dV per cycle and direction, coloured by cycle" {
	render ica --preset ica "$EX/ica.csv"
	is_svg ica.svg "cycle 1 charge" "cycle 101 discharge" "cycle 201 charge" "dQ/dV (Ah/V)"
	# The hand-made curves are short: drawn whole, every point.
	bt-plot --preset ica --format csv "$EX/ica.csv" >pts.csv
	[ "$(sed 1d pts.csv | wc -l)" -eq "$(sed 1d "$EX/ica.csv" | wc -l)" ]
	diff <(awk -F, 'NR > 1 { print $3 + 0, $5 + 0 }' "$EX/ica.csv") \
		<(awk -F, 'NR > 1 { print $2 + 0, $3 + 0 }' pts.csv)
}

@test "--preset denoise: bt-wavelet's denoised signal over the raw one" {
	bt-wavelet denoise -c voltage_v "$EX/noisy_drive.csv.gz" -o smooth.csv
	render den --preset denoise --with smooth.csv "$EX/noisy_drive.csv.gz"
	is_svg den.svg "raw voltage_v" "denoised voltage_v" "voltage (V)"
}

@test "line plots: several series, a band, a series per group, sizes and labels" {
	bt-plot -x time_s -y voltage_v,temperature_c --band voltage_v,temperature_c \
		--width 640 --height 480 --xlabel 'Zeit (s)' --ylabel "it's V" \
		"$EX/drive.csv" -o lines.png
	is_png lines.png 640 480
	bt-plot -x capacity_ah -y voltage_v --by cycle --title 'per cycle' "$EX/ica.csv" >cycles.svg
	is_svg cycles.svg "cycle 1" "cycle 101" "cycle 201" "per cycle" "voltage (V)"
	# A quote in a label reaches gnuplot as text, not as script.
	bt-plot -x time_s -y voltage_v --ylabel "it's V" "$EX/drive.csv" >q.svg
	is_svg q.svg "it's V"
}

# 200,000 rows with known spikes (index, value) on a slow sine.
spiky() {
	awk 'BEGIN { print "time_s,voltage_v"
		s[1] = 4.2718; s[77777] = 2.7183; s[77778] = 4.4142; s[199999] = 3.1416
		for (i = 0; i < 200000; i++) {
			v = (i in s) ? s[i] : 3.7 + 0.1 * sin(i / 9000) + 0.002 * sin(i * 1.7)
			printf "%.2f,%.6f\n", i * 0.25, v
		}
	}'
}

@test "decimation keeps the min/max envelope: spikes, extremes, few points" {
	spiky >spiky.csv
	bt-plot --format csv -x time_s -y voltage_v spiky.csv -o pts.csv
	n=$(sed 1d pts.csv | wc -l)
	# at most 4 points per bucket, 2 buckets per pixel column of 1024
	[ "$n" -le 8192 ] && [ "$n" -ge 1024 ] || { echo "$n points"; return 1; }
	for p in '0.25,4.2718' '19444.25,2.7183' '19444.5,4.4142' '49999.75,3.1416'; do
		grep -q "^voltage_v,$p,\$" pts.csv || { echo "spike $p lost"; return 1; }
	done
	# the extremes, and each output point is an input point
	[ "$(awk -F, 'NR > 1 { if (min == "" || $3 < min) min = $3; if ($3 > max) max = $3 } END { print min, max }' pts.csv)" = "2.7183 4.4142" ]
	awk -F, 'NR == FNR { if (FNR > 1) v[$1 + 0] = $2 + 0; next }
		FNR > 1 && v[$2 + 0] != $3 + 0 { bad++ } END { exit bad > 0 }' spiky.csv pts.csv
	# The same through gnuplot, from standard input.
	bt-plot -x time_s -y voltage_v <spiky.csv >spiky.svg
	is_svg spiky.svg voltage_v
}

@test "the residual of --preset fit is the model minus the measured voltage" {
	bt-soc -q -m "$ECM" --method ekf "$EX/drive.csv" -o soc.csv
	bt-plot --preset fit --format csv -p 10 soc.csv >pts.csv
	diff <(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ printf "%.6f %.6f\n", $c["time_s"], $c["v_model_v"] - $c["voltage_v"] }' soc.csv) \
		<(awk -F, '$1 == "residual (model - measured)" { printf "%.6f %.6f\n", $2, $3 }' pts.csv)
}

@test "a failed render leaves no output and no temporary file" {
	run bt-plot -x time_s -y voltage_v --gnuplot false "$EX/drive.csv" -o out.png
	fails_with 1 "bt-plot: false failed (exit status 1)"
	[ -z "$(ls -A)" ] || { echo "left behind: $(ls -A)"; return 1; }
	# gnuplot's own message, without its echo of the script line
	mkdir bin
	printf '#!/bin/sh\ncat >"${0%%/*}/script.gp"\necho "gnuplot> set terminal pngcairo" >&2\necho "                      ^" >&2\necho "         line 0: unknown or ambiguous terminal type" >&2\nexit 1\n' >bin/gp
	chmod +x bin/gp
	run bt-plot -x time_s -y voltage_v --gnuplot bin/gp "$EX/drive.csv" -o out.png
	fails_with 1 "bt-plot: bin/gp failed (exit status 1): line 0: unknown or ambiguous terminal type"
	[ "$(ls -A)" = bin ] || { echo "left behind: $(ls -A)"; return 1; }
}

@test "standard output on a terminal: say how to get a file" {
	command -v script >/dev/null || skip "no script(1)"
	run script -qec "bt-plot -x time_s -y voltage_v $EX/drive.csv" /dev/null
	[ "$status" -eq 2 ]
	[[ "$output" == *"bt-plot: standard output is a terminal: name a picture with -o FILE.png (or .svg, .pdf), or redirect it"* ]]
}

@test "error messages (golden files)" {
	for c in "$GOLDEN"/bt-plot/*.cmd; do
		golden bt-plot "$(basename "$c" .cmd)"
	done
}
