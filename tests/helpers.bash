# helpers.bash - shared set-up for the Bats suites.
#
# The suites run from `make check` (BT_BUILDDIR and BT_SRCDIR set by the
# Makefile) or by hand from the source tree after a build in build/default.

: "${BT_SRCDIR:=$(cd "$BATS_TEST_DIRNAME/.." && pwd)}"
: "${BT_BUILDDIR:=$BT_SRCDIR/build/default}"
PATH="$BT_BUILDDIR/cmd:$PATH"
export PATH BT_SRCDIR BT_BUILDDIR
DATA="$BT_SRCDIR/tests/data"
GOLDEN="$BT_SRCDIR/tests/golden"
# Public lab data beside the checkout (absent on a user's machine).
SHARED="$BT_SRCDIR/../shared/datasets"
# The tools of the family, with the arguments that make each read FILE.
BT_TOOLS="bt-import bt-sim bt-fit bt-soc bt-soh bt-rul bt-wavelet bt-batch bt-plot"

# tool_reads TOOL FILE: the command line with which TOOL reads FILE.
tool_reads() {
	case $1 in
	bt-import) echo "bt-import $2" ;;
	bt-sim) echo "bt-sim -m $BT_SRCDIR/datasets/nmc18650.ecm $2" ;;
	bt-soc) echo "bt-soc -q -m $BT_SRCDIR/datasets/nmc18650.ecm $2" ;;
	bt-soh) echo "bt-soh cycles $2" ;;
	# Three points of discharge current as a capacity history: it fades.
	bt-rul) echo "bt-rul -q --map cycle=time_s --map capacity_ah=current_a*-1 --hampel-window 0 --min-points 3 --trend-z 0 -m linear --eol-capacity -1 $2" ;;
	bt-wavelet) echo "bt-wavelet denoise -c current_a,voltage_v $2" ;;
	bt-batch) echo "bt-batch --gather-only $2" ;;
	# The decimated points as CSV: a picture's bytes are gnuplot's.
	bt-plot) echo "bt-plot --format csv -x time_s -y current_a,voltage_v $2" ;;
	# An OCV curve from the three rows (a tiny cell, so that they move
	# the soc): the one mode that can use so little data.
	bt-fit) echo "bt-fit -q --mode ocv --soc0 0.9 --capacity 0.001 --max-c-rate 5000 $2" ;;
	*) echo "unknown tool $1" >&2; return 1 ;;
	esac
}

# need_shared DATASET: skip the test unless ../shared holds DATASET.
need_shared() {
	[ -d "$SHARED/$1" ] || skip "../shared/datasets/$1 is absent"
}

# golden TOOL CASE: run tests/golden/TOOL/CASE.cmd (a shell command line,
# from tests/data) and compare its standard output, standard error and exit
# status with CASE.out, CASE.err and CASE.exit.
golden() {
	local d="$GOLDEN/$1" c="$2" st=0
	(cd "$DATA" && sh -c "$(cat "$d/$c.cmd")") >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err" </dev/null || st=$?
	# Explicit returns: errexit is off when a caller writes golden ... || ...
	diff -u "$d/$c.out" "$BATS_TEST_TMPDIR/out" || return 1
	diff -u "$d/$c.err" "$BATS_TEST_TMPDIR/err" || return 1
	[ "$st" -eq "$(cat "$d/$c.exit")" ] || {
		echo "exit status $st, expected $(cat "$d/$c.exit")"
		return 1
	}
}

# fails_with STATUS MESSAGE: after `run`, check the exit status and that the
# last line of output is exactly MESSAGE.
fails_with() {
	[ "$status" -eq "$1" ] || { echo "status $status, expected $1: $output"; return 1; }
	[ "${lines[${#lines[@]}-1]}" = "$2" ] || {
		echo "got:  ${lines[${#lines[@]}-1]}"
		echo "want: $2"
		return 1
	}
}
