# SPDX-License-Identifier: GPL-2.0-or-later
# tests/bench/lib.sh — sourced by the benchmarks (tests/bench/bench_*.sh).
#
# A benchmark runs in two halves. Outside, bench_start builds what it needs
# (the nsagent Release build in build-bench/ unless $NSAGENT names a binary,
# the floor program), brings up a throwaway lab (deploy/lab, hosts without
# agents) that is removed at exit, and bench_in_host runs the script itself
# again inside a lab host with --in-host. Inside, everything the benchmark
# creates lives in that host's network and mount namespaces: the machine's
# root network namespace and /run/netns are never touched.
#
# Figures are printed in milliseconds, one line per measure, with the
# reference measured in the same run and the ratio; a "RESULT" line per
# figure is meant for grep. Benchmarks never fail on a slow figure: they
# fail only when the behaviour they time is wrong (an object missing after
# bring-up, a repair that never comes).
# shellcheck shell=bash

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NSAGENT_SOURCE_DIR=${NSAGENT_SOURCE_DIR:-$(cd "$BENCH_DIR/../.." && pwd)}
export NSAGENT_SOURCE_DIR

bench_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# ------------------------------------------------------------ outside

# The agent under test: $NSAGENT, else a Release build (no sanitizer) in
# build-bench/, built when missing or stale.
bench_agent() {
	if [[ -n ${NSAGENT:-} ]]; then
		[[ -x $NSAGENT ]] || bench_fail "NSAGENT=$NSAGENT is not executable"
		return 0
	fi
	local b=$NSAGENT_SOURCE_DIR/build-bench
	if [[ ! -f $b/CMakeCache.txt ]]; then
		cmake -S "$NSAGENT_SOURCE_DIR" -B "$b" -DCMAKE_BUILD_TYPE=Release \
			-DNSAGENT_SANITIZE=OFF >/dev/null || bench_fail "cannot configure $b"
	fi
	cmake --build "$b" -j2 --target nsagent >/dev/null || bench_fail "cannot build $b/nsagent"
	NSAGENT=$b/nsagent
	export NSAGENT
}

# What kind of build the agent is, for the report.
bench_agent_kind() {
	if grep -q __asan_init < <(nm -D "$NSAGENT" 2>/dev/null); then
		echo "sanitizer build (figures not representative)"
	else
		echo "non-sanitizer build"
	fi
}

# bench_start NAME: temp dir, agent, a lab called after NAME, cleanup at exit.
bench_start() {
	local name=$1
	((EUID == 0)) || bench_fail "benchmarks need root (they build namespaces)"
	bench_agent
	# shellcheck source=../lab/lib.sh
	source "$NSAGENT_SOURCE_DIR/tests/lab/lib.sh"
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/nsagent-$name.$$.XXXXXX")
	export BENCH_TMP
	lab_init "$name"
	# At exit, before the lab goes: a benchmark's own leftovers first
	# (bench_extra_cleanup when it defines one: parked launchers, a second
	# lab), while its temp dir still exists, then the temp dir.
	lab_at_exit 'if declare -F bench_extra_cleanup >/dev/null; then bench_extra_cleanup; fi'
	lab_at_exit 'rm -rf "$BENCH_TMP"'
}

# bench_floor: compiles floor.c into the temp dir; sets FLOOR.
bench_floor() {
	FLOOR=$BENCH_TMP/floor
	gcc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$FLOOR" "$BENCH_DIR/floor.c" -lmnl ||
		bench_fail "cannot compile floor.c (gcc, libmnl-dev)"
	export FLOOR
}

# bench_in_host HOST SCRIPT ARGS...: runs SCRIPT --in-host ARGS in HOST.
bench_in_host() {
	local host=$1 script=$2
	shift 2
	lab exec "$host" -- env BENCH_KEEP="${BENCH_KEEP:-}" BENCH_VERBOSE="${BENCH_VERBOSE:-}" NSAGENT="$NSAGENT" NSAGENT_CNI="${NSAGENT_CNI:-}" BENCH_TMP="$BENCH_TMP" FLOOR="${FLOOR:-}" \
		NSAGENT_SOURCE_DIR="$NSAGENT_SOURCE_DIR" bash "$script" --in-host "$@"
}

# ------------------------------------------------------------- inside

# Time stamps are ${EPOCHREALTIME/./} (µs), read in place: a command
# substitution such as $(now) forks, and a poll loop forking every 0.5 ms
# takes CPU from what it measures (on 2 CPUs it cost nsagent's bring-up at
# N=256 a fifth of its figure, and the synchronous floor programs nothing).

# A sleep without a fork: read with a timeout on a FIFO nobody writes.
bench_sleep_init() {
	local fifo=$BENCH_TMP/sleep.$BASHPID
	mkfifo "$fifo"
	exec {BENCH_SLEEP_FD}<>"$fifo"
	rm -f "$fifo"
}
nap() { read -r -t "${1:-0.0005}" -u "$BENCH_SLEEP_FD" _ || true; }

# poll_every INTERVAL_S TIMEOUT_S CMD...: runs CMD (a shell function,
# ideally: no fork) every INTERVAL_S until it succeeds; fails after
# TIMEOUT_S seconds. Nothing in the loop forks.
poll_every() {
	local interval=$1 deadline=$((${EPOCHREALTIME/./} + $2 * 1000000))
	shift 2
	until "$@"; do
		((${EPOCHREALTIME/./} < deadline)) || return 1
		nap "$interval"
	done
}

# poll_until TIMEOUT_S CMD...: poll_every 0.5 ms.
poll_until() { poll_every 0.0005 "$@"; }

# proc_state PID: the process's state letter (R, S, T for stopped, Z...).
proc_state() {
	local stat
	read -r stat <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	echo "${stat%% *}"
}

# all_stopped PID...: every one of them is stopped (parked with SIGSTOP).
all_stopped() {
	local p
	for p; do [[ $(proc_state "$p") == T ]] || return 1; done
}

# median V...: the middle value (the mean of the two middle ones).
median() {
	printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# spread US...: "min-max" of the values, in ms ("12.3-15.0"): how far a
# median can be trusted on a machine whose speed drifts.
spread() {
	printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 }
		END { printf "%.1f-%.1f", lo / 1000, hi / 1000 }'
}

# us_to_ms US: "12.3".
ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }

# ratio A B: "1.23" (A / B).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.2f", a / b }'; }

# verdict RATIO TARGET: "met" when RATIO <= TARGET.
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r + 0 <= t + 0) ? "met" : "MISSED" }'; }

# bench_check_log FILE: a sanitizer report in an agent's log is a failure.
bench_check_log() {
	if grep -E -q 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$1"; then
		grep -E -A 30 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$1" | head -n 60 >&2
		bench_fail "sanitizer report in the agent's log"
	fi
}

# bench_stop_agent PID LOG: SIGTERM, wait for it (it must exit 0), check LOG.
bench_stop_agent() {
	local rc=0
	kill -TERM "$1" 2>/dev/null || bench_fail "the agent is gone before the end: $(tail -5 "$2")"
	wait "$1" || rc=$?
	((rc == 0)) || bench_fail "the agent exited $rc on SIGTERM: $(tail -5 "$2")"
	bench_check_log "$2"
}

# host_addr INDEX: address number INDEX of 172.16.0.0/16 (the benchmarks'
# subnets all start at 172.16.0.0).
host_addr() { echo "172.16.$(($1 / 256)).$(($1 % 256))"; }
