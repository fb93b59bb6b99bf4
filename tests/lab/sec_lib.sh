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
