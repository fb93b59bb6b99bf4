# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the peer scenarios (sourced after lib.sh).
# shellcheck shell=bash

# routes HOST: the agent's routes on HOST, one "dst via gw" per line, sorted.
routes() {
	lab exec "$1" -- ip -4 route show proto nsagent | awk '{print $1, $2, $3}' | sort
}

n_routes() { routes "$1" | grep -c . || true; }

# sessions HOST: established TCP connections of the peer port on HOST.
sessions() {
	lab exec "$1" -- ss -Htn state established '( sport = :7470 or dport = :7470 )' |
		grep -c . || true
}

# mesh_ready N: every host of 1..N has N-1 routes and N-1 sessions.
mesh_ready() {
	local n=$1 i
	for ((i = 1; i <= n; i++)); do
		[[ $(n_routes "host$i") == $((n - 1)) ]] || return 1
		[[ $(sessions "host$i") == $((n - 1)) ]] || return 1
	done
}

# poll SECONDS CMD...: poll CMD until it succeeds, with a deadline.
poll() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}
