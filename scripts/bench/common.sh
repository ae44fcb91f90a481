# common.sh - helpers for the benchmarks in scripts/bench/ (sourced).
#
# measure NAME RUNS CMD...: run CMD (a shell command line, output to
# /dev/null by the caller) RUNS times under GNU time; print one line with the
# median and spread of its time and the largest peak RSS, and set MEDIAN (s)
# and PEAK_KB for the caller.
#
# The time is wall-clock time, or with BENCH_CLOCK=cpu the processor time
# (user + system, the command's children included): on a shared machine,
# whose load changes between two commands of one run, only processor time
# gives fair ratios of single-threaded tools.

bench_setup() {
	top=$(cd "$(dirname "$0")/../.." && pwd)
	BT_DEPS_EXTRA="time ${BT_DEPS_EXTRA:-}" "$top/scripts/install-deps"
	build=$("$top/scripts/build" build/default | tail -n 1)
	PATH="$build/cmd:$PATH"
	work="$top/build/bench"
	mkdir -p "$work"
	echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "battools: $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
	case ${BENCH_CLOCK:=wall} in
	wall) echo "clock: wall time (BENCH_CLOCK=cpu for processor time)" ;;
	cpu) echo "clock: processor time, user + system" ;;
	*) echo "bench: BENCH_CLOCK must be wall or cpu, not '$BENCH_CLOCK'" >&2; exit 2 ;;
	esac
}

# measure NAME N COMMAND...: run COMMAND N times; set MEDIAN and PEAK_KB.
# Its own variables are prefixed m_ (sh has no locals): a caller's "runs"
# must survive it.
measure() {
	m_name=$1 m_runs=$2
	shift 2
	: >"$work/times"
	m_i=0
	while [ "$m_i" -lt "$m_runs" ]; do
		/usr/bin/time -f '%e %U %S %M' -o "$work/one" sh -c "$*" || {
			echo "$m_name: command failed: $*" >&2
			return 1
		}
		awk -v c="$BENCH_CLOCK" '{ print (c == "cpu" ? $2 + $3 : $1), $4 }' \
			"$work/one" >>"$work/times"
		m_i=$((m_i + 1))
	done
	set -- $(sort -n "$work/times" | awk '{ t[NR] = $1; if ($2 > m) m = $2 }
		END { printf "%s %s %s %s\n", t[int((NR + 1) / 2)], t[1], t[NR], m }')
	MEDIAN=$1 PEAK_KB=$4
	printf '%-34s median %6.3f s  (min %.3f, max %.3f)  peak RSS %6.1f MiB\n' \
		"$m_name" "$1" "$2" "$3" "$(echo "$4" | awk '{ print $1 / 1024 }')"
}
