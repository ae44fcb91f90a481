#!/usr/bin/env bats
# family.bats - what every battools tool must do alike.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	printf 'time_s,current_a,voltage_v\n0,-1.2507,3.7182\n0.5,-1.2507,3.7011\n1,0.3125,3.7094\n' >in.csv
}

@test "--help: exit 0, examples, expected columns" {
	for t in $BT_TOOLS; do
		run "$t" --help
		[ "$status" -eq 0 ] || { echo "$t: status $status"; return 1; }
		[[ "$output" == *"Examples:"* ]] || { echo "$t: no examples"; return 1; }
		[[ "$output" == *"Usage: $t"* ]] || { echo "$t: no usage"; return 1; }
	done
}

@test "every long option appears in --help and in the man page, and back" {
	[ "$MANDOC" != no ] || skip "mandoc not installed"
	for t in $BT_TOOLS; do
		man="$BT_SRCDIR/man/$t.1"
		[ -f "$man" ] || { echo "$t: no man page"; return 1; }
		"$t" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u >help.opts
		# EXAMPLES may show other tools' options (bt-batch runs them).
		"${MANDOC:-mandoc}" -T ascii "$man" | col -b |
			awk '/^[A-Z]/ { ex = ($0 == "EXAMPLES") } !ex' |
			grep -o -- '--[a-z][a-z0-9-]*' | sort -u >man.opts
		[ -s help.opts ]
		for o in $(cat help.opts); do
			case $o in --help|--usage|--version) continue ;; esac
			grep -qx -- "$o" man.opts || { echo "$t: $o missing from $man"; return 1; }
		done
		for o in $(cat man.opts); do
			grep -qx -- "$o" help.opts || { echo "$t: $o of $man is not in --help"; return 1; }
		done
	done
}

@test "--version names the tool and the package" {
	for t in $BT_TOOLS; do
		run "$t" --version
		[ "$status" -eq 0 ]
		[[ "${lines[0]}" == "$t (battools) "* ]] || { echo "$t: ${lines[0]}"; return 1; }
	done
}

@test "an unknown option is a usage error: exit 2" {
	for t in $BT_TOOLS; do
		run "$t" --no-such-option
		[ "$status" -eq 2 ] || { echo "$t: status $status"; return 1; }
		[[ "${lines[0]}" == "$t: unrecognized option '--no-such-option'" ]] ||
			{ echo "$t: ${lines[0]}"; return 1; }
	done
}

@test "writing to /dev/full is an error: exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	for t in $BT_TOOLS; do
		run sh -c "$(tool_reads "$t" in.csv) >/dev/full"
		[ "$status" -eq 1 ] || { echo "$t: status $status"; return 1; }
		[ "$output" = "$t: write error: No space left on device" ] ||
			{ echo "$t: $output"; return 1; }
		run sh -c "$t --help >/dev/full"
		[ "$status" -eq 1 ] || { echo "$t --help: status $status"; return 1; }
	done
}

@test "empty input is an error naming the file" {
	: >empty.csv
	for t in $BT_TOOLS; do
		run $(tool_reads "$t" empty.csv)
		[ "$status" -eq 1 ] || { echo "$t: status $status"; return 1; }
		[ "$output" = "$t: empty.csv: empty input (no header line)" ] ||
			{ echo "$t: $output"; return 1; }
	done
}

@test "header-only input is an error naming the file" {
	head -n 1 in.csv >header.csv
	for t in $BT_TOOLS; do
		run $(tool_reads "$t" header.csv)
		[ "$status" -eq 1 ] || { echo "$t: status $status"; return 1; }
		[ "$output" = "$t: header.csv: no data rows after the header" ] ||
			{ echo "$t: $output"; return 1; }
	done
}

@test "CRLF line ends give the same output as LF" {
	# The CRLF copy keeps the file's name, which bt-batch writes as data.
	mkdir crlf
	sed 's/$/\r/' in.csv >crlf/in.csv
	for t in $BT_TOOLS; do
		$(tool_reads "$t" in.csv) >lf.out
		$(tool_reads "$t" crlf/in.csv) >crlf.out
		cmp lf.out crlf.out
	done
}

@test "a comma-decimal locale gives the same bytes" {
	locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$' ||
		skip "de_DE.UTF-8 locale not generated (scripts/install-deps makes it)"
	for t in $BT_TOOLS; do
		LC_ALL=C $(tool_reads "$t" in.csv) >c.out
		LC_ALL=de_DE.UTF-8 $(tool_reads "$t" in.csv) >de.out
		cmp c.out de.out
		LC_ALL=de_DE.UTF-8 $(tool_reads "$t" in.csv) -p 6 >de6.out
		LC_ALL=C $(tool_reads "$t" in.csv) -p 6 >c6.out
		cmp c6.out de6.out
	done
}

@test "-o writes atomically and leaves nothing behind on failure" {
	printf 'time_s,current_a,voltage_v\n0,-1.2507,3.7182\n1,oops,3.7011\n' >bad.csv
	for t in $BT_TOOLS; do
		run $(tool_reads "$t" bad.csv) -o out.csv
		[ "$status" -eq 1 ] || { echo "$t: status $status"; return 1; }
		[ ! -e out.csv ] || { echo "$t: out.csv left behind"; return 1; }
		[ -z "$(ls -A | grep -v '^\(in\|bad\)\.csv$')" ] ||
			{ echo "$t: leftovers: $(ls -A)"; return 1; }
		$(tool_reads "$t" in.csv) -o out.csv.gz
		gzip -t out.csv.gz
		$(tool_reads "$t" in.csv) | cmp - <(gzip -dc out.csv.gz)
		rm -f out.csv.gz
	done
}

@test "-o onto a named pipe writes through it and leaves it a pipe" {
	# Renaming a finished file onto a device or a pipe would replace it:
	# run as root, -o /dev/null once turned /dev/null into a plain file.
	mkfifo pipe
	for t in $BT_TOOLS; do
		cat pipe >got.csv &
		reader=$!
		$(tool_reads "$t" in.csv) -o pipe
		[ -p pipe ] || { kill "$reader"; echo "$t: the pipe was replaced"; return 1; }
		wait "$reader"
		$(tool_reads "$t" in.csv) | cmp - got.csv
	done
}

@test "an unwritable output is an error: exit 1" {
	for t in $BT_TOOLS; do
		run $(tool_reads "$t" in.csv) -o /nonexistent/out.csv
		[ "$status" -eq 1 ]
		[ "$output" = "$t: /nonexistent/out.csv: No such file or directory" ] ||
			{ echo "$t: $output"; return 1; }
	done
}
