#!/usr/bin/env bats
# datasets.bats - the simulated data in datasets/ are what their commands make.

load helpers

@test "scripts/make-datasets regenerates datasets/ byte for byte" {
	out="$BATS_TEST_TMPDIR/ds"
	mkdir -p "$out"
	PATH="$BT_BUILDDIR/cmd:$PATH" sh "$BT_SRCDIR/scripts/make-datasets" "$out"
	n=0
	for f in "$out"/*.csv.gz; do
		n=$((n + 1))
		cmp <(gzip -dc "$f") <(gzip -dc "$BT_SRCDIR/datasets/$(basename "$f")")
	done
	[ "$n" -eq "$(ls "$BT_SRCDIR"/datasets/*.csv.gz | wc -l)" ]
}

@test "datasets/README.md lists every command of scripts/make-datasets" {
	grep '^bt-sim ' "$BT_SRCDIR/scripts/make-datasets" | while IFS= read -r cmd; do
		grep -qF -- "$cmd" "$BT_SRCDIR/datasets/README.md" ||
			{ echo "not in README: $cmd"; return 1; }
	done
}

@test "the example model loads and its HPPC data start full and rest first" {
	run sh -c "gzip -dc '$BT_SRCDIR/datasets/nmc18650_hppc.csv.gz' | head -n 2"
	[ "${lines[0]}" = "time_s,current_a,voltage_v,temperature_c,soc_true,step" ]
	[[ "${lines[1]}" == 0,*,25,1,1 ]]
}
