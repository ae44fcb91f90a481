#!/usr/bin/env bats
# bt-batch.bats - batches of simulated cells on GNU parallel (and on a
# stand-in for sbatch): identical gathers whatever the parallelism,
# resuming, failures, quoting, gathering and the errors.  tests/slurm.bats
# runs the same batch on a real Slurm cluster.

load helpers

ECM="$BT_SRCDIR/datasets/nmc18650.ecm"
JOB='bt-import {in} -p 6 -o {out}'

setup() {
	command -v parallel >/dev/null || skip "GNU parallel is not installed (scripts/install-deps)"
	cd "$BATS_TEST_TMPDIR"
}

# make_cells N: N simulated drive cycles, cells/cell01.csv ... (seeds 1..N).
make_cells() {
	local s
	mkdir -p cells
	for s in $(seq "$1"); do
		bt-sim -m "$ECM" --protocol drive --duration 300 --voltage-noise 0.002 \
			--seed "$s" -p 8 -o "cells/cell$(printf %02d "$s").csv"
	done
}

# expected FILE...: the gather of bt-import -p 6 of each FILE, by hand.
expected() {
	local f n
	printf 'cell,'
	bt-import "$1" -p 6 | head -n 1
	for f; do
		n=${f##*/}
		n=${n%.csv}
		bt-import "$f" -p 6 | tail -n +2 | sed "s/^/$n,/"
	done
}

# A stand-in for sbatch on the PATH: it records its arguments, prints a job
# id and, with --wait, runs the array's tasks one after another as Slurm
# would run them; it keeps the batch script as Slurm keeps a copy.
fake_sbatch() {
	mkdir -p bin
	cat >bin/sbatch <<'EOF'
#!/bin/sh
printf '%s\n' "$@" >"$BATS_TEST_TMPDIR/sbatch.args"
wait= last=
for a; do
	case $a in
	--array=*) range=${a#--array=1-}; last=${range%%\%*} ;;
	--wait) wait=1 ;;
	esac
	script=$a
done
cp "$script" "$BATS_TEST_TMPDIR/sbatch.script"
echo 4242
[ -n "$wait" ] || exit 0
i=1
while [ "$i" -le "$last" ]; do
	SLURM_ARRAY_TASK_ID=$i sh "$script" || st=1
	i=$((i + 1))
done
exit ${st:-0}
EOF
	chmod +x bin/sbatch
	PATH="$PWD/bin:$PATH"
}

@test "20 simulated cells: -j 1 and -j 4 gather the same bytes, each cell's import behind its name" {
	make_cells 20
	bt-batch -q -e parallel -j 1 --outdir out1 --gather -o g1.csv "$JOB" cells/*.csv
	bt-batch -q -e parallel -j 4 --outdir out4 --gather -o g4.csv "$JOB" cells/*.csv
	cmp g1.csv g4.csv
	expected cells/*.csv >want.csv
	cmp want.csv g1.csv
	[ "$(wc -l <g1.csv)" -eq $((20 * 301 + 1)) ]
	# Each output is the job's, and the logs hold only exit statuses.
	cmp out4/cell07.csv <(bt-import cells/cell07.csv -p 6)
	[ "$(ls out4/logs)" = "$(for i in $(seq -w 1 20); do echo "cell$i.exit"; done)" ]
	[ "$(cat out4/logs/cell07.exit)" = 0 ]
}

@test "an interrupted run resumed with the same command does only the missing work" {
	make_cells 20
	cmd=(bt-batch -e parallel -j 2 --outdir out --gather -o fleet.csv
	     'echo {name} >>ledger; sleep 0.2; bt-import {in} -p 6 -o {out}' cells/*.csv)
	"${cmd[@]}" 2>first.err 3>&- &
	pid=$!
	for i in $(seq 300); do
		[ "$(ls out/*.csv 2>/dev/null | wc -l)" -ge 4 ] && break
		sleep 0.1
	done
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 143 ] || { echo "status $st"; cat first.err; return 1; }
	ls out/*.csv | sed 's|^out/||; s|\.csv$||' | sort >done1
	n=$(wc -l <done1)
	[ "$n" -ge 4 ] && [ "$n" -lt 20 ] || { echo "$n done"; return 1; }
	[ ! -e fleet.csv ]
	grep -q 'did not finish$' first.err
	# No interrupted task left an exit status or a partial output.
	for f in out/logs/*.exit; do [ -s "$f" ] || continue; grep -qx 0 "$f"; done
	[ "$(ls out/logs/*.exit | xargs -n 1 sh -c '[ -s "$0" ] && echo "$0"' | wc -l)" -eq "$n" ]
	mv ledger ledger1
	run timeout 300 "${cmd[@]}"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ "$output" = "bt-batch: 20 inputs: 20 done ($((20 - n)) in this run); logs in out/logs" ]
	sort ledger >ran2
	ls cells | sed 's|\.csv$||' | sort | comm -23 - done1 >missing
	cmp missing ran2
	expected cells/*.csv | cmp - fleet.csv
	# Nothing of the runs is left behind.
	[ -z "$(ls out/logs | grep -v '\.exit$')" ]
}

@test "a corrupt input fails its task only; the summary names it; exit 1" {
	make_cells 6
	gzip -c cells/cell03.csv | head -c 2000 >cells/corrupt.csv.gz
	run bt-batch -e parallel -j 2 --outdir out --gather -o fleet.csv \
		'echo {name} >>ledger; bt-import {in} -p 6 -o {out}' cells/*
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "bt-batch: cells/corrupt.csv.gz: failed (exit 1): bt-import: cells/corrupt.csv.gz: truncated gzip data" ] ||
		{ echo "$output"; return 1; }
	[ "${lines[1]}" = "bt-batch: 7 inputs: 6 done (6 in this run), 1 failed, nothing gathered; logs in out/logs" ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(ls out | grep -c '\.csv$')" -eq 6 ] && [ ! -e out/corrupt.csv ] && [ ! -e fleet.csv ]
	[ "$(cat out/logs/corrupt.exit)" = 1 ]
	grep -q 'truncated gzip data' out/logs/corrupt.err
	# Run again: the failure is reported, not retried.
	: >ledger
	run bt-batch -e parallel -j 2 --outdir out --gather -o fleet.csv \
		'echo {name} >>ledger; bt-import {in} -p 6 -o {out}' cells/*
	[ "$status" -eq 1 ]
	[ "${lines[1]}" = "bt-batch: 7 inputs: 6 done (0 in this run), 1 failed (1 before this run: --retry-failed runs them again), nothing gathered; logs in out/logs" ]
	[ ! -s ledger ]
	# Repaired, it runs again with --retry-failed, alone.
	gzip -c cells/cell03.csv >cells/corrupt.csv.gz
	run bt-batch -q -e parallel -j 2 --outdir out --gather -o fleet.csv --retry-failed \
		'echo {name} >>ledger; bt-import {in} -p 6 -o {out}' cells/*
	[ "$status" -eq 0 ] && [ -z "$output" ]
	[ "$(cat ledger)" = corrupt ]
	[ "$(grep -c '^corrupt,' fleet.csv)" -eq 301 ]
}

@test "a pipeline fails when any of its commands fails" {
	make_cells 1
	# The first bt-import writes rows before it meets the cut; the second
	# succeeds on what it got: only pipefail fails the task.
	gzip -c cells/cell01.csv | head -c 4000 >cut.csv.gz
	run bt-batch -e parallel --outdir out 'bt-import {in} | bt-import -p 6 -o {out}' cut.csv.gz
	[ "$status" -eq 1 ]
	[ ! -e out/cut.csv ]
	[ "${lines[0]}" = "bt-batch: cut.csv.gz: failed (exit 1): bt-import: cut.csv.gz: truncated gzip data" ]
}

@test "placeholders are shell-quoted words: names with spaces, quotes and dollars" {
	make_cells 2
	cp cells/cell01.csv "it's a cell.csv"
	cp cells/cell02.csv 'cost $5 `x` "y".csv'
	bt-batch -q -e parallel --outdir 'out dir' --gather -o g.csv \
		'bt-import {in} -p 6 -o {out} && [ {name}.csv = "$(basename {in})" ]' \
		"it's a cell.csv" 'cost $5 `x` "y".csv'
	cmp "out dir/it's a cell.csv" <(bt-import cells/cell01.csv -p 6)
	cmp 'out dir/cost $5 `x` "y".csv' <(bt-import cells/cell02.csv -p 6)
	# The name column quotes what needs quoting.
	[ "$(sed -n 2p g.csv | cut -c 1-12)" = "it's a cell," ]
	[ "$(sed -n 303p g.csv | cut -d, -f1)" = '"cost $5 `x` ""y"""' ]
}

@test "without {out} the job's standard output is the output; --manifest; --suffix" {
	make_cells 3
	printf 'cells/cell01.csv\n\ncells/cell03.csv\r\n' >list
	bt-batch -q -e parallel --outdir out --manifest list 'bt-import {in} -p 6'
	[ "$(ls out)" = "$(printf 'cell01.csv\ncell03.csv\nlogs')" ]
	cmp out/cell03.csv <(bt-import cells/cell03.csv -p 6)
	ls cells/*.csv | bt-batch -q -e parallel --outdir gz --suffix .csv.gz --manifest - \
		--gather 'bt-import {in} -p 6 -o {out}' >g.csv
	gzip -t gz/cell02.csv.gz
	expected cells/*.csv | cmp - g.csv
	# Any word is an input: here the seeds of three simulated cells.
	bt-batch -q -e parallel --outdir sims \
		"bt-sim -m $ECM --protocol drive --duration 300 --voltage-noise 0.002 --seed {in} -p 8" 1 2 3
	cmp sims/2.csv cells/cell02.csv
}

@test "a job that succeeds without writing {out} fails" {
	make_cells 1
	run bt-batch -e parallel --outdir out 'bt-import {in} -p 6 -o {out}.x' cells/cell01.csv
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "bt-batch: cells/cell01.csv: failed (exit 1): bt-batch: the job succeeded but wrote nothing to {out}" ]
}

@test "--per-job groups inputs into fewer jobs, with the same outputs" {
	make_cells 7
	bt-batch -q -e parallel --outdir a --gather -o a.csv "$JOB" cells/*.csv
	bt-batch -q -e parallel -j 2 --per-job 3 --outdir b --gather -o b.csv \
		'echo $$ >>pids; bt-import {in} -p 6 -o {out}' cells/*.csv
	cmp a.csv b.csv
	# Seven inputs in jobs of three: three shells ran them.
	[ "$(sort -u pids | wc -l)" -eq 3 ]
}

@test "Slurm: the array, its options and the gather (stand-in sbatch)" {
	make_cells 20
	fake_sbatch
	bt-batch -q -e parallel --outdir p --gather -o p.csv "$JOB" cells/*.csv
	bt-batch -q -e slurm --wait -j 3 --per-job 6 --partition p1 --time 5 --mem 100M \
		--sbatch-arg=-Alab --outdir s --gather -o s.csv "$JOB" cells/*.csv
	cmp p.csv s.csv
	grep -qx -- '--parsable' sbatch.args
	grep -qx -- '--array=1-4%3' sbatch.args
	grep -qx -- '--partition=p1' sbatch.args
	grep -qx -- '--time=5' sbatch.args
	grep -qx -- '--mem=100M' sbatch.args
	grep -qx -- '-Alab' sbatch.args
	grep -qx -- '--wait' sbatch.args
	grep -qx -- "--output=$PWD/s/logs/slurm-%A_%a.out" sbatch.args
	# The run's files are gone once the array has been waited for.
	[ -z "$(ls s/logs | grep -v '\.exit$')" ]
}

@test "Slurm without --wait: submitted, the runner kept; the next run gathers" {
	make_cells 4
	fake_sbatch
	run bt-batch -e slurm --outdir s "$JOB" cells/*.csv
	[ "$status" -eq 0 ]
	[ "$output" = "bt-batch: 4 inputs: 0 done (0 in this run), 4 submitted as Slurm job 4242; logs in s/logs" ]
	ls s/logs/run.* >/dev/null
	! grep -qx -- '--wait' sbatch.args
	# Slurm runs the array later, from its copy of the script.
	for i in 1 2 3 4; do SLURM_ARRAY_TASK_ID=$i sh sbatch.script; done
	run bt-batch -e slurm --wait --outdir s --gather -o g.csv "$JOB" cells/*.csv
	[ "$status" -eq 0 ]
	[ "$output" = "bt-batch: 4 inputs: 4 done (0 in this run); logs in s/logs" ]
	expected cells/*.csv | cmp - g.csv
}

@test "the default engine: Slurm only where it is configured and not already inside a job" {
	make_cells 1
	fake_sbatch
	: >slurm.conf
	SLURM_CONF="$PWD/slurm.conf" bt-batch -q --outdir a "$JOB" cells/cell01.csv
	[ -e sbatch.args ]
	rm sbatch.args
	SLURM_CONF="$PWD/slurm.conf" SLURM_JOB_ID=77 bt-batch -q --outdir b "$JOB" cells/cell01.csv
	[ ! -e sbatch.args ] && [ -e b/cell01.csv ]
	if [ ! -e /etc/slurm/slurm.conf ]; then
		env -u SLURM_CONF -u SLURM_JOB_ID bt-batch -q --outdir c "$JOB" cells/cell01.csv
		[ ! -e sbatch.args ] && [ -e c/cell01.csv ]
	fi
}

@test "--gather-only: names from the files, --column, -p, gzip and a header check" {
	make_cells 2
	gzip -c cells/cell02.csv >two.csv.gz
	bt-batch --gather-only cells/cell01.csv two.csv.gz --column seed -p 4 >g.csv
	# The first row's voltage, 4.1835046, to 4 significant digits.
	[ "$(head -n 2 g.csv)" = "$(printf 'seed,time_s,current_a,voltage_v,temperature_c,step,soc_true\ncell01,0,0,4.184,25,1,1')" ]
	[ "$(grep -c '^two,' g.csv)" -eq 301 ]
	[ "$(sed -n 3p g.csv)" = "$(bt-import cells/cell01.csv -p 4 | sed -n 3p | sed 's/^/cell01,/')" ]
}

@test "errors" {
	for c in "$GOLDEN"/bt-batch/*.cmd; do
		c=${c##*/}
		golden bt-batch "${c%.cmd}"
	done
}
