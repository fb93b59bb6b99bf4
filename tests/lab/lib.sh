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
