# SPDX-License-Identifier: GPL-2.0-or-later
# tests/lab/lib.sh — sourced by lab tests (tests/lab/test_*.sh):
#
#   source "$(dirname "$0")/lib.sh"
#   lab_init                     # unique lab name, `down` at exit
#   lab up --hosts 3             # agents ready, host1 NS1 pings NS2 and br0
#   lab ping host1 NS1 172.16.1.2          # poll (30 s) until it answers
#   lab wait host2 -- sh -c 'ip route | grep -q "proto nsagent"'
#   lab agent host2 kill; lab agent host2 start
#   lab exec host1 NS1 -- ping -c 3 172.16.2.2 || fail "cross-node ping"
#
# lab_init exports NSAGENT_LAB, so every `deploy/lab` command (also ones a
# test runs itself) addresses this test's lab. At exit the lab is removed;
# a sanitizer report from any agent turns the test into a failure.
# shellcheck shell=bash

: "${NSAGENT:?NSAGENT must name the nsagent binary (ctest sets it)}"
export NSAGENT
NSAGENT_SOURCE_DIR=${NSAGENT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LABCTL=$NSAGENT_SOURCE_DIR/deploy/lab

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

lab() { "$LABCTL" "$@"; }

# lab_at_exit CMD: CMD (one shell command line) runs at exit, before the lab
# goes, in the order given. Tests use this, not a trap of their own: under
# errexit a trap that re-raises the exit status ends there and the lab
# stays behind.
LAB_AT_EXIT=()
lab_at_exit() { LAB_AT_EXIT+=("$1"); }

lab_cleanup() {
	local rc=$? down=0 cmd
	set +e
	for cmd in "${LAB_AT_EXIT[@]}"; do eval "$cmd"; done
	lab down >/dev/null || down=$?
	if ((down != 0)); then
		echo "FAIL: deploy/lab down exited $down (3 = sanitizer report from an agent)" >&2
		((rc != 0)) || rc=1
	fi
	exit "$rc"
}

# lab_init [PREFIX]: name the lab after the test and this process.
lab_init() {
	local prefix=${1:-$(basename "$0" .sh)}
	prefix=${prefix#test_}
	NSAGENT_LAB=${prefix:0:24}$$
	export NSAGENT_LAB
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
}

# grep_q ARGS...: `cmd | grep_q PATTERN` — like grep -q but reads its whole
# input, so that under `set -o pipefail` the writer never dies of SIGPIPE
# and turns a match into a failure.
grep_q() { grep "$@" >/dev/null; }

# metric_value SAMPLE TEXT: the value of the Prometheus sample (name and
# labels exactly as exposed, e.g. 'nsagent_probe_up{peer="...",family="ipv4"}')
# in the scraped TEXT; empty when absent.
metric_value() { awk -v s="$1" '$1 == s {print $2}' <<<"$2"; }

# Oracles: a test asks the agent's status model (status --json: the same
# counters as `nsagent status` and /metrics), not its log, whenever the
# model has the fact. Log text is for what the log line itself is meant to
# say, matched anywhere in the agent's log since its last start (log_last),
# never by its position or by the order of events.

# status_json HOST: HOST's agent's status --json.
status_json() { lab exec "$1" -- "$NSAGENT" status --json; }

# counter HOST NAME [LABEL]: a counter of HOST's agent (status --json
# .counters); fails (no output) when the agent has no such counter.
counter() {
	local path=".counters[\"$2\"]"
	[[ -z ${3:-} ]] || path+="[\"$3\"]"
	status_json "$1" | jq -e "$path | numbers"
}

# peer_field HOST ADDR FIELD: FIELD of HOST's peer at ADDR in status --json
# (e.g. mode, state, route); empty when there is no such peer.
peer_field() {
	status_json "$1" | jq -r --arg a "$2" --arg f "$3" \
		'.peers[] | select(.address == $a) | .[$f] // empty'
}

# peer_is HOST ADDR FIELD VALUE: poll-friendly peer_field comparison.
peer_is() { [[ $(peer_field "$1" "$2" "$3") == "$4" ]]; }

# log_last HOST: HOST's agent log since its last start (deploy/lab marks
# each start with a "=== lab: ...: start" line).
log_last() {
	lab agent "$1" log | awk '/^=== lab: .*: start /{body=""} {body=body $0 "\n"} END{printf "%s", body}'
}

# logs HOST PATTERN: HOST's agent has logged a line matching PATTERN (basic
# regex) since its last start. It logs after it acts, so a test that has
# seen the effect polls: poll 30 logs host1 'mode vxlan'.
logs() { log_last "$1" | grep_q -- "$2"; }
