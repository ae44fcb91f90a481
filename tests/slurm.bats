#!/usr/bin/env bats
# slurm.bats - bt-batch on a real Slurm cluster: one node on 127.0.0.1, with
# munged, slurmctld and slurmd from Debian's packages (installed here when
# missing) and a throw-away configuration in a temporary directory.  The
# job array's gathered output must equal GNU parallel's.  The daemons this
# file starts are stopped by their process ids when it ends, whatever
# happened.  It skips where it cannot run: not root, not Debian, no
# package archive, or BT_SKIP_SLURM set.

load helpers

# Bounds, in seconds, on every wait.
INSTALL_SECONDS=900	# apt-get update and install
START_SECONDS=60	# a daemon's socket, the node's registration
CALL_SECONDS=20		# one sinfo or scontrol call
BATCH_SECONDS=300	# one bt-batch run on the cluster

ECM="$BT_SRCDIR/datasets/nmc18650.ecm"
JOB='bt-import {in} -p 6 -o {out}'

# The cluster's directory (short: munge's socket path must fit in 108 bytes).
cluster_dir() {
	cat "$BATS_FILE_TMPDIR/cluster" 2>/dev/null || true
}

# stop_cluster: stop the daemons listed in the cluster's pids file, newest
# first (slurmd, slurmctld, munged), and remove the cluster's directory.
stop_cluster() {
	local c pid i
	c=$(cluster_dir)
	[ -n "$c" ] || return 0
	if [ -f "$c/pids" ]; then
		for pid in $(tac "$c/pids"); do
			kill -TERM "$pid" 2>/dev/null || continue
			for i in $(seq 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.2
			done
			kill -KILL "$pid" 2>/dev/null || true
		done
	fi
	rm -rf "$c"
	rm -f "$BATS_FILE_TMPDIR/cluster"
}

# start DAEMON ARGS...: start a daemon in the foreground of a background
# job, its output in the cluster's directory, and record its pid.
start() {
	local c
	c=$(cluster_dir)
	"$@" </dev/null >"$c/$(basename "$1").log" 2>&1 3>&- &
	echo "$!" >>"$c/pids"
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.5 s until it succeeds.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.5
	done
}

node_idle() {
	[ "$(timeout "$CALL_SECONDS" sinfo -h -o %T 2>/dev/null)" = idle ]
}

# free_port: a TCP port of 127.0.0.1 on which nothing listens.
free_port() {
	local p i
	for i in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

install_slurm() {
	local p missing=
	for p in munge slurmctld slurmd slurm-client; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	export DEBIAN_FRONTEND=noninteractive
	timeout "$INSTALL_SECONDS" apt-get install -y -qq --no-install-recommends \
		slurm-wlm munge </dev/null >/dev/null 2>&1 && return 0
	timeout "$INSTALL_SECONDS" apt-get update -qq </dev/null >/dev/null 2>&1 &&
		timeout "$INSTALL_SECONDS" apt-get install -y -qq --no-install-recommends \
			slurm-wlm munge </dev/null >/dev/null 2>&1
}

start_cluster() {
	local c ctld_port slurmd_port
	c=$(cluster_dir)
	ctld_port=$(free_port) && slurmd_port=$(free_port) || return 1
	mkdir -m 700 "$c/state" "$c/spool"
	dd if=/dev/urandom of="$c/munge.key" bs=1024 count=1 2>/dev/null
	chmod 400 "$c/munge.key"
	# No cgroups: process tracking through /proc and no task binding.
	cat >"$c/slurm.conf" <<EOF
ClusterName=bttest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$c/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$c/state
SlurmdSpoolDir=$c/spool
SlurmctldPidFile=$c/slurmctld.pid
SlurmdPidFile=$c/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=btnode NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=bt Nodes=btnode Default=YES MaxTime=60 State=UP
EOF
	start munged -F -f --key-file="$c/munge.key" --socket="$c/munge.sock" \
		--pid-file="$c/munged.pid" --seed-file="$c/munged.seed" \
		--log-file="$c/munged.file.log"
	wait_for "$START_SECONDS" test -S "$c/munge.sock" || return 1
	export SLURM_CONF="$c/slurm.conf"
	start slurmctld -D -i -f "$c/slurm.conf"
	start slurmd -D -N btnode -f "$c/slurm.conf"
	wait_for "$START_SECONDS" node_idle
}

# Why this machine cannot run the test, or nothing.  (Bats 1.8 cannot skip
# from setup_file: each test skips with this reason.)
why_not() {
	if [ -n "${BT_SKIP_SLURM:-}" ]; then
		echo "BT_SKIP_SLURM is set"
	elif [ "$(id -u)" -ne 0 ]; then
		echo "the Slurm test starts slurmd, which needs root"
	elif [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
		echo "the Slurm test installs Debian's packages: this is not Debian"
	elif ! command -v parallel >/dev/null; then
		echo "GNU parallel is not installed (scripts/install-deps)"
	elif ! install_slurm; then
		echo "could not install slurm-wlm and munge from Debian's packages"
	fi
}

setup_file() {
	local c
	why_not >"$BATS_FILE_TMPDIR/skip"
	[ ! -s "$BATS_FILE_TMPDIR/skip" ] || return 0
	mktemp -d /tmp/bt-slurm.XXXXXX >"$BATS_FILE_TMPDIR/cluster"
	chmod 755 "$(cluster_dir)"
	if ! start_cluster; then
		c=$(cluster_dir)
		echo "# the one-node cluster did not start:" >&3
		tail -n 5 "$c"/*.log 2>/dev/null | sed 's/^/# /' >&3
		stop_cluster
		return 1
	fi
}

teardown_file() {
	stop_cluster
}

setup() {
	[ ! -s "$BATS_FILE_TMPDIR/skip" ] || skip "$(cat "$BATS_FILE_TMPDIR/skip")"
	cd "$BATS_TEST_TMPDIR"
	SLURM_CONF="$(cluster_dir)/slurm.conf"
	export SLURM_CONF
	mkdir -p cells
	for s in $(seq 20); do
		bt-sim -m "$ECM" --protocol drive --duration 300 --voltage-noise 0.002 \
			--seed "$s" -p 8 -o "cells/cell$(printf %02d "$s").csv"
	done
}

@test "a job array over 20 simulated cells gathers what GNU parallel gathers" {
	bt-batch -q -e parallel -j 2 --outdir p --gather -o p.csv "$JOB" cells/*.csv
	run timeout "$BATCH_SECONDS" bt-batch -e slurm --wait --per-job 4 --array-max 2 \
		--partition bt --time 5 --mem 100 --outdir s --gather -o s.csv \
		"$JOB" cells/*.csv
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ "$output" = "bt-batch: 20 inputs: 20 done (20 in this run); logs in s/logs" ]
	cmp p.csv s.csv
	# Five array tasks of four cells ran under Slurm, each with its log.
	[ "$(ls s/logs/slurm-*_[1-5].out | wc -l)" -eq 5 ]
}

@test "on Slurm a corrupt input fails alone, and a resumed array runs only the missing work" {
	gzip -c cells/cell03.csv | head -c 2000 >cells/corrupt.csv.gz
	run timeout "$BATCH_SECONDS" bt-batch -e slurm --wait --outdir s \
		'echo {name} >>ledger; bt-import {in} -p 6 -o {out}' cells/*
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "bt-batch: cells/corrupt.csv.gz: failed (exit 1): bt-import: cells/corrupt.csv.gz: truncated gzip data" ] ||
		{ echo "$output"; return 1; }
	[ "$(wc -l <ledger)" -eq 21 ]
	gzip -c cells/cell03.csv >cells/corrupt.csv.gz
	rm s/cell05.csv s/cell17.csv
	: >ledger
	run timeout "$BATCH_SECONDS" bt-batch -q -e slurm --wait --retry-failed --outdir s \
		--gather -o s.csv 'echo {name} >>ledger; bt-import {in} -p 6 -o {out}' cells/*
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ "$(sort ledger | tr '\n' ' ')" = "cell05 cell17 corrupt " ]
	[ "$(wc -l <s.csv)" -eq $((21 * 301 + 1)) ]
}
