# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the security scenarios (sourced after lib.sh).
# shellcheck shell=bash

FAKEPEER=${NSAGENT_BUILD_DIR:?NSAGENT_BUILD_DIR must name the build dir}/tests/fakepeer
[[ -x $FAKEPEER ]] || fail "no fakepeer at $FAKEPEER (build the tests)"

# fakepeer HOST ARGS...: run the hostile peer from HOST's network namespace.
fakepeer() {
	local host=$1
	shift
	lab exec "$host" -- "$FAKEPEER" "$@"
}

# rss_kib HOST: resident memory of HOST's agent.
rss_kib() {
	awk '/^VmRSS:/ {print $2}' "/proc/$(lab agent "$1" pid)/status"
}

# agent_alive HOST
agent_alive() {
	kill -0 "$(lab agent "$1" pid)" 2>/dev/null
}

# A session that stays up is one TCP connection all along (the oracle
# for "no flap": the kernel's, exact, where log lines would be a guess).
# session_conn HOST PEER: the kernel's established TCP connection(s) of
# the peer port between HOST and PEER (address), as "local peer" lines.
session_conn() {
	lab exec "$1" -- ss -Htn state established "( sport = :7470 or dport = :7470 ) and dst $2" |
		awk '{print $3, $4}'
}
# no_flap HOST CONN PEER: HOST's session with PEER is still the TCP
# connection CONN (session_conn's, taken before): a session that went
# down and up again would be a new connection.
no_flap() {
	session_conn "$1" "$3" | grep -qxF -- "$2" ||
		{ echo "session $2 is gone; now: $(session_conn "$1" "$3")" >&2; return 1; }
}
# one_session HOST PEER: prints HOST's one session connection with PEER,
# once there is exactly one (a collision's loser may take a moment to go).
one_session() {
	local conn deadline=$((SECONDS + 10))
	until conn=$(session_conn "$1" "$2") && [[ -n $conn && $(grep -c . <<<"$conn") == 1 ]]; do
		((SECONDS < deadline)) || fail "$1: not one session with $2: '$conn'"
		sleep 0.1
	done
	echo "$conn"
}

# log_lines HOST: number of lines in HOST's agent log so far.
log_lines() { lab agent "$1" log | wc -l; }

# log_since HOST N: HOST's agent log after its first N lines.
log_since() { lab agent "$1" log | tail -n "+$(($2 + 1))"; }

# routes_json HOST: every IPv4 route of HOST in all tables, and every IPv6
# route the agent installed (the "no kernel change" check). IPv6 link-local
# routes are left out: the kernel adds them on its own when duplicate address
# detection ends on a link, at a time no test controls.
routes_json() {
	lab exec "$1" -- ip -4 -j route show table all
	lab exec "$1" -- ip -6 -j route show table all proto nsagent
}
