#!/usr/bin/env bats
# memory.bats - streaming tools hold constant memory: an endless input piped
# through each tool under a virtual-memory limit must still be running when
# the time limit ends it (exit 124 from timeout), not die of the limit.

load helpers

# Address space allowed to a tool, KiB.  The tools need a few MiB; the
# limit leaves room for the C library and the shared libraries mapped in.
LIMIT_KB=200000
SECONDS_RUN=4

setup() {
	[ -z "${BT_SANITIZERS:-}" ] ||
		skip "AddressSanitizer reserves terabytes of address space: ulimit -v cannot apply"
	cd "$BATS_TEST_TMPDIR"
}

# An endless canonical stream with increasing time and a zero-mean current
# (so that a simulated cell never runs empty).
endless() {
	awk 'BEGIN { print "time_s,current_a,voltage_v,temperature_c"
		for (i = 0; ; i++) printf "%d.5,%.4f,3.%04d,25.%d\n", i, (i % 2) - 0.5, i % 9973, i % 10 }'
}

bounded() {	# bounded CMD: run CMD on the endless stream, expect the timeout
	run bash -c "$(declare -f endless); endless | (ulimit -v $LIMIT_KB; exec timeout $SECONDS_RUN $1) >/dev/null"
	[ "$status" -eq 124 ] || { echo "status $status: $output"; return 1; }
}

@test "bt-import runs in constant memory" {
	bounded "bt-import"
}

@test "bt-sim with a profile runs in constant memory" {
	bounded "bt-sim -m $BT_SRCDIR/datasets/nmc18650.ecm --soc0 0.9 -q"
}

@test "bt-sim with a long protocol runs in constant memory" {
	run bash -c "(ulimit -v $LIMIT_KB; exec timeout $SECONDS_RUN bt-sim -m $BT_SRCDIR/datasets/nmc18650.ecm --protocol cc --current 0 --duration 1e12) >/dev/null"
	[ "$status" -eq 124 ] || { echo "status $status: $output"; return 1; }
}

@test "bt-soc runs in constant memory, every method" {
	for m in cc ekf ukf pf; do
		bounded "bt-soc -q -m $BT_SRCDIR/datasets/nmc18650.ecm --method $m --soc0 0.5"
	done
	bounded "bt-soc -q -m $BT_SRCDIR/datasets/nmc18650.ecm --adapt --soc0 0.5"
}

@test "bt-soc --method nn and nn+ekf run in constant memory" {
	net=$BT_SRCDIR/tests/data/net/torch_default.btnet
	bounded "bt-soc -q --method nn --net $net"
	bounded "bt-soc -q --method nn --stream window --net $net"
	bounded "bt-soc -q -m $BT_SRCDIR/datasets/nmc18650.ecm --method nn+ekf --net $net --soc0 0.5"
}

@test "bt-wavelet denoise runs in constant memory" {
	bounded "bt-wavelet denoise -c voltage_v,current_a --block 4096"
}

@test "bt-batch gathers in constant memory" {
	bounded "bt-batch --gather-only -"
}

@test "bt-soh cycles runs in constant memory, with and without a cycle column" {
	bounded "bt-soh cycles --cutoff-v 3.5"
	run bash -c "$(declare -f endless); endless | awk -F, -v OFS=, 'NR == 1 { print \$0, \"cycle\", \"cell\"; next } { print \$0, int(NR / 50), int(NR / 5000) }' | (ulimit -v $LIMIT_KB; exec timeout $SECONDS_RUN bt-soh cycles -g cell) >/dev/null"
	[ "$status" -eq 124 ] || { echo "status $status: $output"; return 1; }
}

@test "bt-soh ica runs in constant memory" {
	# 500-row discharges and charges sweeping the voltage, so that every
	# cycle fills its bins
	for opt in "" --peaks; do
		run bash -c "awk 'BEGIN { print \"time_s,current_a,voltage_v\"
			for (i = 0; ; i++) { k = i % 1000; printf \"%d,%s,%.4f\\n\", i, k < 500 ? \"-1\" : \"1\", k < 500 ? 4.1 - 0.002 * k : 3.1 + 0.002 * (k - 500) } }' |
			(ulimit -v $LIMIT_KB; exec timeout $SECONDS_RUN bt-soh ica $opt) >/dev/null"
		[ "$status" -eq 124 ] || { echo "status $status: $output"; return 1; }
	done
}

@test "bt-plot decimates in constant memory" {
	bounded "bt-plot --format csv -x time_s -y voltage_v,current_a --band voltage_v,temperature_c"
	bounded "bt-plot --format svg -x time_s -y voltage_v --by temperature_c"
}
