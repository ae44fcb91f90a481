#!/usr/bin/env bats
# man.bats - the manual pages lint clean, and their examples (and those of
# --help) run.  Examples run in a copy of tests/data/examples, which holds
# the files they name.

load helpers

setup() {
	cp -R "$DATA/examples/." "$BATS_TEST_TMPDIR/"
	cp "$BT_SRCDIR"/datasets/*.ecm "$BATS_TEST_TMPDIR/"
	cd "$BATS_TEST_TMPDIR"
}

# The .Dl lines of the EXAMPLES section of a page, as shell commands.
man_examples() {
	awk '/^\.Sh /{ ex = ($2 == "EXAMPLES") } ex && /^\.Dl /{ sub(/^\.Dl /, ""); print }' "$1" |
		sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\(aq/'"'"'/g' -e 's/\\&//g'
}

# The example lines of --help: indented lines after "Examples:".
help_examples() {
	"$1" --help | awk '/^Examples:/{ ex = 1; next } ex && /^  [^ ]/{ sub(/^  /, ""); print } ex && /^$/{ ex = 0 }'
}

run_examples() {
	local n=0 line
	while IFS= read -r line; do
		n=$((n + 1))
		sh -c "$line" >/dev/null 2>"err.$n" || {
			echo "example failed: $line"
			cat "err.$n"
			return 1
		}
	done
	[ "$n" -gt 0 ] || { echo "no examples"; return 1; }
}

@test "mandoc -T lint is clean on every page" {
	[ "$MANDOC" != no ] || skip "mandoc not installed"
	run "${MANDOC:-mandoc}" -T lint -W warning "$BT_SRCDIR"/man/*.[1-9]
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ -z "$output" ]
}

@test "every tool has a page and every page's EXAMPLES run" {
	for t in $BT_TOOLS; do
		[ -f "$BT_SRCDIR/man/$t.1" ] || { echo "no man page for $t"; return 1; }
		man_examples "$BT_SRCDIR/man/$t.1" | run_examples
	done
}

@test "the examples of battools(7) run" {
	man_examples "$BT_SRCDIR/man/battools.7" | run_examples
}

@test "the examples of --help run" {
	for t in $BT_TOOLS; do
		help_examples "$t" | run_examples
	done
}
