#!/usr/bin/env bats
# bt-wavelet.bats - transforms that invert exactly, denoising with known
# truth (bt-sim), the block streamer against the whole signal, the wavelet
# impedance of a simulated cell against its circuit, and errors.  (The
# agreement with PyWavelets is tested in tests/unit/test_bt_wavelet.c and
# test_bt_denoise.c against committed fixtures.)

load helpers

ECM="$BT_SRCDIR/datasets/nmc18650.ecm"
FLAT="$DATA/ecm/flat2rc.ecm"
HPPC="$DATA/examples/noisy_hppc.csv.gz"

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# maxdiff A B COL: largest |difference| of column COL between two files.
maxdiff() {
	paste -d, "$1" "$2" | awk -F, -v c="$3" 'NR == 1 { n = NF / 2; next }
		{ d = $c - $(c + n); if (d < 0) d = -d; if (d > m) m = d }
		END { printf "%.3g\n", m }'
}

@test "wavedec | waverec gives the signal back to 1e-12, odd length, every mode" {
	gzip -dc "$HPPC" | head -n 778 >x.csv	# 777 samples
	for w in haar db4 sym8 coif3 bior3.5 rbio2.8; do
		for m in zero constant symmetric reflect periodic smooth periodization antisymmetric antireflect; do
			bt-wavelet wavedec -c voltage_v,current_a -w $w -m $m x.csv |
				bt-wavelet waverec -w $w -m $m >y.csv
			[ "$(wc -l <y.csv)" -eq 778 ] || { echo "$w $m: $(wc -l <y.csv) lines"; return 1; }
			paste -d, x.csv y.csv | awk -F, -v w=$w -v m=$m 'NR == 1 { for (k = 1; k <= NF; k++) c[$k] = c[$k] ? c[$k] : k; next }
				{ a = $c["voltage_v"] - $(NF - 1); b = $c["current_a"] - $NF
				  if (a < 0) a = -a; if (b < 0) b = -b; if (a > ea) ea = a; if (b > eb) eb = b }
				END { if (!(ea < 4.2e-12 && eb < 2.5e-12)) { print w, m, ea, eb; exit 1 } }'
		done
	done
}

@test "dwt | idwt and swt | iswt give the signal back; swt on a length that is no power of two" {
	gzip -dc "$HPPC" | head -n 1000 >x.csv	# 999 samples
	bt-wavelet dwt -c voltage_v -w sym4 -m reflect x.csv | bt-wavelet idwt -w sym4 -m reflect >y.csv
	[ "$(maxdiff <(cut -d, -f3 x.csv) y.csv 1 | awk '{ print ($1 < 4.2e-12) }')" = 1 ]
	bt-wavelet swt -c voltage_v -w db3 -l 5 x.csv >c.csv
	[ "$(awk -F, '$3 == "d" && $2 == 5' c.csv | wc -l)" -eq 999 ]
	bt-wavelet iswt -w db3 c.csv >y.csv
	[ "$(maxdiff <(cut -d, -f3 x.csv) y.csv 1 | awk '{ print ($1 < 4.2e-12) }')" = 1 ]
}

@test "the coefficient table: header, the length row, bands coarsest first, whole-number indices under -p" {
	bt-wavelet wavedec -c voltage_v -w haar -l 2 -p 3 "$DATA/wavelet/short.csv" >c.csv
	# haar: a2[0] = (x1 + x2 + x3 + x4) / 2 = 7.38915
	[ "$(head -n 3 c.csv)" = "$(printf 'column,level,band,index,value\nvoltage_v,0,n,0,11\nvoltage_v,2,a,0,7.39')" ]
	[ "$(awk -F, 'NR > 2 { print $2 $3 }' c.csv | uniq | tr '\n' ' ')" = "2a 2d 1d " ]
	[ "$(awk -F, '$2 == 1 && $3 == "d"' c.csv | wc -l)" -eq 6 ]
}

@test "denoise with the defaults: >= 10 dB on bt-sim HPPC with 5 mV noise, pulse edges within one sample" {
	bt-sim -m "$ECM" --protocol hppc --voltage-noise 0.005 --seed 5 --truth >noisy.csv
	bt-wavelet denoise -c voltage_v noisy.csv >den.csv
	paste -d, noisy.csv den.csv | awk -F, 'NR == 1 { n = NF / 2; for (k = 1; k <= n; k++) c[$k] = k; next }
		{ y = $c["voltage_v"]; x = $c["voltage_true_v"]; z = $(n + c["voltage_v"])
		  e0 += (y - x)^2; e1 += (z - x)^2; m++; I[m] = $c["current_true_a"]; Z[m] = z }
		END { worst = 0; edges = 0
		  for (k = 2; k <= m; k++) {
			d = I[k] - I[k - 1]; if (d < 0) d = -d; if (d < 0.5) continue
			edges++; best = 0; at = k
			for (j = k - 3; j <= k + 3; j++) { if (j < 2 || j > m) continue
				s = Z[j] - Z[j - 1]; if (s < 0) s = -s; if (s > best) { best = s; at = j } }
			sh = at - k; if (sh < 0) sh = -sh; if (sh > worst) worst = sh }
		  g = 10 * log(e0 / e1) / log(10)
		  printf "SNR gain %.2f dB, %d edges, largest shift %d\n", g, edges, worst
		  exit !(g >= 10 && worst <= 1 && edges >= 40) }'
}

# columns FILE NAME...: the named columns of FILE, in that order.
columns() {
	local f=$1
	shift
	awk -F, -v want="$*" 'BEGIN { OFS = ","; k = split(want, w, " ") }
		NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i }
		{ s = $c[w[1]]; for (i = 2; i <= k; i++) s = s OFS $c[w[i]]; print s }' "$f"
}

@test "denoise passes the other columns through untouched" {
	bt-sim -m "$ECM" --protocol drive --duration 900 --voltage-noise 0.002 --seed 3 >in.csv
	bt-wavelet denoise -c voltage_v --block 256 in.csv >out.csv
	[ "$(wc -l <out.csv)" -eq "$(wc -l <in.csv)" ]
	cmp <(columns in.csv time_s current_a temperature_c soc_true step) \
	    <(columns out.csv time_s current_a temperature_c soc_true step)
	! cmp -s <(columns in.csv voltage_v) <(columns out.csv voltage_v)
}

@test "streamed in blocks equals the whole signal with a fixed threshold (swt and dwt)" {
	bt-sim -m "$ECM" --protocol hppc --soc-floor 0.7 --rest 300 --voltage-noise 0.004 --seed 9 >in.csv
	for t in swt dwt; do
		bt-wavelet denoise -c voltage_v --transform $t -w sym4 -l 4 --threshold 0.0037 --shrink soft --block 300 in.csv >blocks.csv
		bt-wavelet denoise -c voltage_v --transform $t -w sym4 -l 4 --threshold 0.0037 --shrink soft --block 1000000 in.csv >whole.csv
		e=$(maxdiff blocks.csv whole.csv 3)
		echo "$t: max |blocks - whole| $e over $(wc -l <in.csv) rows"
		awk -v e="$e" 'BEGIN { exit !(e < 1e-9) }'
	done
}

@test "streamed with --sigma equals the whole signal with the window's universal threshold" {
	bt-sim -m "$ECM" --protocol hppc --soc-floor 0.8 --rest 300 --voltage-noise 0.005 --seed 2 >in.csv
	# haar, 6 levels: margin 2 (2 - 1) 2^6 = 128, so a block of 256 has a
	# window of 512 samples: lambda = sigma sqrt(2 ln 512).
	lambda=$(awk 'BEGIN { printf "%.17g", 0.005 * sqrt(2 * log(512)) }')
	bt-wavelet denoise -c voltage_v --sigma 0.005 --block 256 in.csv >blocks.csv
	bt-wavelet denoise -c voltage_v --threshold "$lambda" --block 1000000 in.csv >whole.csv
	e=$(maxdiff blocks.csv whole.csv 3)
	echo "max |blocks - whole| $e"
	awk -v e="$e" 'BEGIN { exit !(e < 1e-9) }'
}

@test "--sigma-update follows noise that drifts" {
	# 1 mV of noise for 4000 samples, then 8 mV: a noise level kept from
	# the first block under-thresholds the second half.
	bt-sim -m "$ECM" --protocol cc --current 0 --duration 7999 --soc0 0.6 --truth >flat.csv
	awk -F, 'BEGIN { srand(11); OFS = "," } NR == 1 { print; next }
		{ s = (NR < 4002) ? 0.001 : 0.008; u = rand(); v = rand()
		  $3 = $3 + s * sqrt(-2 * log(u + 1e-300)) * cos(6.283185307179586 * v); print }' flat.csv >noisy.csv
	bt-wavelet denoise -c voltage_v --block 1024 noisy.csv >kept.csv
	bt-wavelet denoise -c voltage_v --block 1024 --sigma-update noisy.csv >updated.csv
	err() { paste -d, <(columns noisy.csv voltage_true_v) <(columns "$1" voltage_v) |
		awk -F, 'NR > 4002 { d = $2 - $1; e += d * d; m++ } END { printf "%.4g\n", sqrt(e / m) }'; }
	k=$(err kept.csv) u=$(err updated.csv)
	echo "rms error of the noisy half: kept sigma $k, updated $u"
	awk -v k="$k" -v u="$u" 'BEGIN { exit !(u < 0.5 * k) }'
}

@test "impedance of a simulated cell: within 5 % and 3 degrees of its circuit" {
	bt-sim -m "$FLAT" --protocol drive --soc0 0.9 --duration 7200 --seed 5 >drive.csv
	bt-wavelet impedance drive.csv >z.csv
	awk -F, 'NR > 1 { w = 2 * 3.141592653589793 * $1
		re = 0.0271 + 0.0153 / (1 + (w * 7.31)^2) + 0.0219 / (1 + (w * 183.7)^2)
		im = -0.0153 * w * 7.31 / (1 + (w * 7.31)^2) - 0.0219 * w * 183.7 / (1 + (w * 183.7)^2)
		m = sqrt($2^2 + $3^2) / sqrt(re^2 + im^2) - 1; if (m < 0) m = -m
		p = (atan2($3, $2) - atan2(im, re)) * 180 / 3.141592653589793; if (p < 0) p = -p
		if (m > wm) wm = m; if (p > wp) wp = p; n++ }
		END { printf "%d frequencies, worst |Z| %.2f %%, phase %.2f deg\n", n, 100 * wm, wp
		      exit !(n >= 15 && wm <= 0.05 && wp <= 3) }' z.csv
	# Positive current charges the cell: flipping the sign of the input
	# with --discharge-positive flips the sign of Z.
	bt-wavelet impedance --discharge-positive drive.csv |
		awk -F, 'NR == 5 { exit !($2 < 0) }'
}

@test "unknown wavelet: exit 2" { golden bt-wavelet unknown_wavelet; }
@test "unknown mode: exit 2" { golden bt-wavelet unknown_mode; }
@test "unknown subcommand: exit 2" { golden bt-wavelet unknown_subcommand; }
@test "no subcommand: exit 2" { golden bt-wavelet no_subcommand; }
@test "denoise without -c: exit 2" { golden bt-wavelet no_columns; }
@test "unknown threshold: exit 2" { golden bt-wavelet bad_threshold; }
@test "negative threshold: exit 2" { golden bt-wavelet negative_threshold; }
@test "unknown shrinkage: exit 2" { golden bt-wavelet bad_shrink; }
@test "unknown transform: exit 2" { golden bt-wavelet bad_transform; }
@test "fractional level: exit 2" { golden bt-wavelet bad_level; }
@test "zero sigma: exit 2" { golden bt-wavelet zero_sigma; }
@test "excitation out of range: exit 2" { golden bt-wavelet bad_excitation; }
@test "extra operand: exit 2" { golden bt-wavelet extra_operand; }
@test "column not found" { golden bt-wavelet column_not_found; }
@test "level too deep for the length" { golden bt-wavelet level_too_deep; }
@test "signal too short for the wavelet" { golden bt-wavelet too_short_for_wavelet; }
@test "denoise level too deep for a short signal" { golden bt-wavelet denoise_level_too_deep; }
@test "invalid number in a denoised column" { golden bt-wavelet bad_number; }
@test "coefficient table: invalid band" { golden bt-wavelet table_bad_band; }
@test "coefficient table: index out of order" { golden bt-wavelet table_bad_index; }
@test "coefficient table: a detail band missing" { golden bt-wavelet table_no_detail; }
@test "coefficient table: not a table" { golden bt-wavelet table_missing_column; }
@test "impedance: constant current" { golden bt-wavelet impedance_constant_current; }
@test "impedance: too few samples" { golden bt-wavelet impedance_too_short; }
@test "impedance: no voltage column" { golden bt-wavelet impedance_no_voltage; }
@test "impedance: empty frequency band" { golden bt-wavelet impedance_empty_band; }
