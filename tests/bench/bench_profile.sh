#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Profile: where one agent's CPU goes while a chain of N hosts closes
# into a full mesh, counted in instructions (callgrind), which stay the
# same however loaded the machine is; wall-clock time on a shared 2-CPU
# machine does not.
#
#   bench_profile.sh [--key] [--host H] [--agent BIN]... [--out DIR] [N]
#                        (default N: 64; H: N/2, a node in the middle)
#
# A lab of N hosts (mesh_lib.sh), agents started as a chain (host I
# --peer host(I-1)), host H's agent under valgrind --tool=callgrind; after
# the full mesh every agent is stopped and the profile read. With --key
# every session runs TLS 1.3 with the cluster PSK (`nsagent genkey`).
# Several --agent binaries are profiled one after the other in the same
# lab (before/after pairs); the default is $NSAGENT (lib.sh).
#
# Printed per binary: instructions of host H's agent in all and per
# session (it has N-1), and the functions with the most inclusive
# instructions (callgrind_annotate). A binary built with per-message
# counters (they print "PROF ..." lines to stderr at exit) also gets its
# bytes and messages per type, per agent, summed over all N agents.
# --out DIR keeps each binary's callgrind file there (callgrind.1, .2...)
# for callgrind_annotate or kcachegrind, and host H's log of that run
# (agent.log.1, .2...: which connections it made and why they ended).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

bench_extra_cleanup() { mesh_cleanup; }

# profile_run N H KEY BIN: one chain -> mesh with BIN, host H profiled.
profile_run() {
	local n=$1 h=$2 key=$3 bin=$4 i out wrap ir
	local -a extra=()
	[[ -z $key ]] || extra=(--key-file "$key")
	out=$BENCH_TMP/callgrind.$RUN
	wrap=$BENCH_TMP/wrap.$RUN
	printf '#!/bin/sh\nexec valgrind -q --tool=callgrind --callgrind-out-file=%s %s "$@"\n' "$out" "$bin" >"$wrap"
	chmod +x "$wrap"
	for ((i = 1; i <= n; i++)); do
		mapfile -t args < <(mesh_chain_args "$i" "${extra[@]}")
		if ((i == h)); then NSAGENT=$wrap mesh_spawn "$i" "${args[@]}"; else NSAGENT=$bin mesh_spawn "$i" "${args[@]}"; fi
	done
	mesh_release
	mesh_wait_converged "$n" 600 || bench_fail "N=$n: no full mesh within 600 s"
	echo "full mesh after $(ms "$MESH_LAST") ms (host$h under callgrind: not a timing)"
	# The profiled agent first: stopped after the others, it would count
	# the redials and failed handshakes of their departures.
	mesh_reset "$h"
	for ((i = 1; i <= n; i++)); do ((i == h)) || mesh_reset "$i"; done
	ir=$(awk '/^summary:/ {print $2}' "$out")
	if [[ -n $OUT_DIR ]]; then
		cp "$out" "$OUT_DIR/callgrind.$RUN"
		awk 'BEGIN {n = 1} /^=== lab:/ {n = NR} {l[NR] = $0} END {for (i = n; i <= NR; i++) print l[i]}' \
			"$(hd "$h")/agent.log" >"$OUT_DIR/agent.log.$RUN"
	fi
	echo "host$h: $ir instructions, $((ir / (n - 1))) per session ($((n - 1)) sessions)"
	# (awk reads to the end: a head that stops early would fail the pipe)
	callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk '/^-+$/ {s++} s >= 3 && NF && k++ < 40' || true
	# Collisions (both nodes of a pair dialled, one connection thrown
	# away), as each agent logged them in this run (after its last start).
	local h_log c=0
	for ((i = 1; i <= n; i++)); do
		h_log=$(awk '/^=== lab:/ {c = 0} /connection collision|refusing the new one/ {c++} END {print c + 0}' "$(hd "$i")/agent.log")
		c=$((c + h_log))
	done
	echo "collisions logged: $c in all, $(awk -v c="$c" -v n="$n" 'BEGIN {printf "%.1f", c / n}') per agent"
	# Per-message counters (a profiling build only): summed over agents.
	cat "$LABDIR"/host*/agent.log | awk -v n="$n" '
		/ PROF / { sub(/^[0-9.]+ /, "")
			if ($2 == "entries") { er += substr($3, 6); es += substr($4, 6); next }
			split($4, m, "="); split($5, b, "=")
			k = $2 " " $3; msgs[k] += m[2]; bytes[k] += b[2] }
		END {
			for (k in msgs) printf "  %-20s %8.1f msgs %10.0f bytes per agent\n", k, msgs[k] / n, bytes[k] / n
			if (er + es) printf "  peer-list entries per agent: %.1f received, %.1f sent\n", er / n, es / n
		}' | sort
	for ((i = 1; i <= n; i++)); do sed -i '/ PROF /d' "$(hd "$i")/agent.log"; done
}

OUT_DIR=

main() {
	local n=64 h='' key='' keyfile='' b
	local -a bins=()
	while (($#)); do
		case $1 in
		--key) key=1; shift ;;
		--host) h=${2:?--host needs a number}; shift 2 ;;
		--agent) bins+=("${2:?--agent needs a binary}"); shift 2 ;;
		--out) OUT_DIR=${2:?--out needs a directory}; shift 2 ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		*) [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 2 && $1 <= 250)) || bench_fail "N must be 2..250, got '$1'"
		   n=$1; shift ;;
		esac
	done
	[[ -n $h ]] || h=$((n / 2 > 0 ? n / 2 : 1))
	((h >= 1 && h <= n)) || bench_fail "--host must be 1..$n"
	command -v valgrind >/dev/null || bench_fail "valgrind is not installed"
	bench_start bench_profile
	((${#bins[@]})) || bins=("$NSAGENT")
	for b in "${bins[@]}"; do
		# valgrind cannot run a sanitizer build (both own the memory map)
		! grep -q __asan_init < <(nm -D "$b" 2>/dev/null) ||
			bench_fail "$b is a sanitizer build: valgrind cannot run it; profile a Release build"
	done
	# shellcheck source=mesh_lib.sh
	source "$BENCH_DIR/mesh_lib.sh"
	bench_sleep_init
	if [[ -n $key ]]; then
		keyfile=$BENCH_TMP/cluster.key
		(umask 077 && "${bins[0]}" genkey >"$keyfile")
	fi
	mesh_lab_up "$n"
	echo "bench_profile: $n hosts, host$h profiled, $(if [[ -n $key ]]; then echo "with a cluster key"; else echo "no key"; fi), $(nproc) CPUs"
	for ((i = 1; i <= n; i++)); do mesh_monitor "$i"; done
	RUN=0
	for b in "${bins[@]}"; do
		RUN=$((RUN + 1))
		echo
		echo "== $b"
		profile_run "$n" "$h" "$keyfile" "$b"
	done
}

main "$@"
