#!/usr/bin/env bats
# bt-import.bats - cycler exports to the canonical stream, and bad input.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# ---- every format's hand-made sample against its independently made
# expected canonical import (tests/data/import/README.md says how) ----------

import_matches() {	# import_matches SAMPLE
	local s="$DATA/import/$1"
	local want="$DATA/import/${1%.*}.expected.csv"
	bt-import "$s" >got.csv
	diff -u "$want" got.csv
}

@test "Arbin CSV export" { import_matches arbin.csv; }
@test "Maccor text export (preamble, unsigned current, state column)" { import_matches maccor.txt; }
@test "Bitrode CSV export" { import_matches bitrode.csv; }
@test "Neware CSV export" { import_matches neware.csv; }
@test "BioLogic EC-Lab .mpt text" { import_matches biologic.mpt; }
@test "NASA PCoE CSV" { import_matches nasa.csv; }
@test "Battery Archive time series" { import_matches batteryarchive.csv; }

@test "canonical input passes through unchanged" {
	bt-import "$DATA/import/arbin.expected.csv" >again.csv
	diff -u "$DATA/import/arbin.expected.csv" again.csv
}

@test "gzip input is recognised by its magic bytes, not its name" {
	gzip -c "$DATA/import/arbin.csv" >export.dat
	bt-import export.dat >got.csv
	diff -u "$DATA/import/arbin.expected.csv" got.csv
	bt-import <export.dat >stdin.csv
	diff -u "$DATA/import/arbin.expected.csv" stdin.csv
}

@test "--discharge-positive flips the current" {
	printf 'time_s,current_a,voltage_v\n0,1.2507,3.7182\n1,-0.5,3.7011\n' >in.csv
	run bt-import --discharge-positive in.csv
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "0,-1.2507,3.7182" ]
	[ "${lines[2]}" = "1,0.5,3.7011" ]
}

@test "-p sets significant digits; -d sets the output delimiter" {
	printf 'time_s;current_a;voltage_v\n0.123456;-1.2507;3.718249\n' >in.csv
	run bt-import -p 3 -d ';' in.csv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "time_s;current_a;voltage_v" ]
	[ "${lines[1]}" = "0.123;-1.25;3.72" ]
}

@test "text fields holding the delimiter are quoted on output" {
	printf 'time_s\tcurrent_a\tvoltage_v\tnote\n0\t-1.2507\t3.7182\ta, b "c"\n' >in.tsv
	run bt-import in.tsv
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = '0,-1.2507,3.7182,"a, b ""c"""' ]
}

@test "--explain shows the mapping" {
	run bt-import --explain "$DATA/import/bitrode.csv"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "format,column,source_index,conversion,scale" ]
	[[ "${lines[1]}" == bitrode,time_s,* ]]
}

# ---- the real Bitrode export of the ORNL Nissan Leaf HPPC test -------------

@test "the raw ORNL Bitrode export imports like its documented conversion" {
	need_shared ornl_nissan_leaf_hppc
	raw="$SHARED/ornl_nissan_leaf_hppc/raw/NissanLeaf-cell-Low-Current-HPPC-25C-2.csv.gz"
	ref="$SHARED/ornl_nissan_leaf_hppc/nissan_leaf_cell_hppc_25C.csv"
	bt-import "$raw" -o got.csv
	# Same number of rows as the steering repo's conversion.
	[ "$(wc -l <got.csv)" -eq "$(wc -l <"$ref")" ]
	# Every value of time, current, voltage, cycle and step agrees.
	awk -F, 'NR == FNR { if (FNR == 1) { for (i = 1; i <= NF; i++) a[$i] = i; next }
			t[FNR] = $a["time_s"]; c[FNR] = $a["current_a"]; v[FNR] = $a["voltage_v"]
			cy[FNR] = $a["cycle"]; st[FNR] = $a["step"]; next }
		FNR == 1 { for (i = 1; i <= NF; i++) b[$i] = i; next }
		{ if ($b["time_s"] != t[FNR] || $b["current_a"] != c[FNR] || $b["voltage_v"] != v[FNR] ||
		      $b["cycle"] != cy[FNR] || $b["step"] != st[FNR]) { print "row " FNR " differs: " $0; bad++ } }
		END { exit bad > 0 }' "$ref" got.csv
	# The repeated Loop columns survive under unique names, the trailing
	# empty field is gone, and Mode passes through.
	head -n 1 got.csv | grep -q 'Loop,Loop_2,Loop_3'
	head -n 1 got.csv | grep -qv ',$'
	sed -n 2p got.csv | grep -q ',CHRG,'
}

# ---- bad input: exact message, exit status ---------------------------------

@test "non-numeric field" { golden bt-import non_numeric; }
@test "ragged row" { golden bt-import ragged; }
@test "missing required column lists the columns found" { golden bt-import missing_voltage; }
@test "empty input" { golden bt-import empty; }
@test "header-only input" { golden bt-import header_only; }
@test "truncated gzip" { golden bt-import truncated; }
@test "time going backwards within a cycle" { golden bt-import time_backwards; }
@test "a time reset at a cycle boundary is data" { golden bt-import cycle_reset; }
@test "NaN in a required column" { golden bt-import nan_current; }
@test "infinity in a required column" { golden bt-import inf_voltage; }
@test "missing value in a required column" { golden bt-import missing_value; }
@test "NUL byte" { golden bt-import nul_byte; }
@test "unrecognised header suggests --map" { golden bt-import unrecognised; }
@test "--map names the columns of an unknown export" { golden bt-import map_unrecognised; }
@test "--map naming a missing column" { golden bt-import map_missing_source; }
@test "malformed --map is a usage error" { golden bt-import map_malformed; }
@test "BOM, CRLF, semicolons and decimal commas are not errors" { golden bt-import bom_crlf_semicolon; }
@test "a decimal comma without --decimal-comma gets a hint" { golden bt-import decimal_comma_hint; }
@test "unknown option: exit 2" { golden bt-import unknown_option; }
@test "bad precision: exit 2" { golden bt-import bad_precision; }
@test "extra operand: exit 2" { golden bt-import extra_operand; }
@test "nonexistent input" { golden bt-import no_such_file; }

@test "a line over 1 MiB" {
	{ printf 'time_s,current_a,voltage_v\n0,-1.2507,'; head -c 1100000 /dev/zero | tr '\0' 7; echo; } >long.csv
	run bt-import long.csv
	fails_with 1 "bt-import: long.csv:2: line longer than 1048576 bytes"
}

@test "a failed run leaves no -o file; a good one writes it atomically" {
	run bt-import "$DATA/bad/ragged.csv" -o out.csv
	[ "$status" -eq 1 ]
	[ ! -e out.csv ]
	[ -z "$(ls -A)" ]
	bt-import "$DATA/bad/cycle_reset.csv" -o out.csv
	[ -s out.csv ]
	[ "$(ls -A)" = out.csv ]
}

@test "unwritable output" {
	run bt-import "$DATA/bad/cycle_reset.csv" -o /nonexistent/out.csv
	fails_with 1 "bt-import: /nonexistent/out.csv: No such file or directory"
}

@test "quoted and unquoted input give the same stream" {
	printf 'time_s,current_a,voltage_v\n0,-1.2507,3.7182\n1,0.6253,3.7011\n' >plain.csv
	printf '"time_s","current_a","voltage_v"\n"0","-1.2507","3.7182"\n1,"0.6253",3.7011\n' >quoted.csv
	bt-import plain.csv >a.csv
	bt-import quoted.csv >b.csv
	cmp a.csv b.csv
}
