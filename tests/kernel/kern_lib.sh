# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Sourced by tests/kernel/test_*.sh. Re-executes the calling test inside a
# fresh network namespace and a private mount namespace (sandbox.sh: tmpfs
# on /run; here also a temporary directory on /var/lib/nsagent), so nothing
# the test makes can reach the machine's root network namespace or its
# /run/netns. Everything made inside dies with the namespaces when the test
# exits.
# shellcheck source=tests/kernel/sandbox.sh
source "$(dirname "${BASH_SOURCE[0]}")/sandbox.sh"

: "${NSAGENT_BUILD_DIR:?set NSAGENT_BUILD_DIR to the build tree}"
DRIVER=$NSAGENT_BUILD_DIR/tests/kern_driver
[[ -x $DRIVER ]] || { echo "FAIL: no driver at $DRIVER" >&2; exit 1; }

# Sanity: this must not be the root network namespace.
if [[ $(readlink /proc/self/ns/net) == $(readlink /proc/1/ns/net) ]]; then
	echo "FAIL: refusing to run in the root network namespace" >&2
	exit 1
fi

TMP=$(mktemp -d "/tmp/nsagent-kern-test.$$.XXXXXX")
if [[ -d /var/lib/nsagent ]]; then
	mount --bind "$TMP" /var/lib/nsagent
else
	mount -t tmpfs "nsagent-test-$$" /var/lib
	mkdir -p /var/lib/nsagent
fi

KERN_PIDS=()
kern_cleanup() {
	reap "${KERN_PIDS[@]}"
	rm -rf "$TMP"
}
trap kern_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$TMP"/*.out "$TMP"/*.err; do
		[[ -s $f ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
	done
	exit 1
}

pass() {
	echo "ok: $*"
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# wait_for SECONDS CMD...: polls CMD until it succeeds or the deadline passes.
wait_for() {
	local deadline=$(($(now_ms) + $1 * 1000))
	shift
	until "$@" >/dev/null 2>&1; do
		(($(now_ms) < deadline)) || return 1
		sleep 0.02
	done
}

# drive NAME ARGS...: runs the driver to completion, output in $TMP/NAME.out.
drive() {
	local name=$1
	shift
	"$DRIVER" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || fail "kern_driver $* failed: $(cat "$TMP/$name.err")"
}

# drive_bg NAME ARGS...: starts the driver with --stay and waits until it is ready.
drive_bg() {
	local name=$1
	shift
	"$DRIVER" "$@" --stay >"$TMP/$name.out" 2>"$TMP/$name.err" &
	KERN_PIDS+=($!)
	wait_for 60 grep -qx ready "$TMP/$name.out" || fail "driver $name never became ready"
}

# out_value NAME KEY: the value of KEY=... in $TMP/NAME.out.
out_value() {
	sed -n "s/^$2=//p" "$TMP/$1.out" | tail -n 1
}

# ifindex LINK [NETNS]: (not /sys, which shows the namespace that mounted it)
ifindex() {
	if [[ $# == 2 ]]; then
		ip -n "$2" -o link show dev "$1" | cut -d: -f1
	else
		ip -o link show dev "$1" | cut -d: -f1
	fi
}

# grep_q ARGS...: `cmd | grep_q PATTERN` — like grep -q but reads its whole
# input, so that under `set -o pipefail` the writer never dies of SIGPIPE
# and turns a match into a failure.
grep_q() { grep "$@" >/dev/null; }

# repairs_of NAME: the last repair count driver NAME (drive_bg) printed
# ("repairs=N ..."), 0 before any.
repairs_of() {
	local r
	r=$(sed -n 's/^repairs=\([0-9]*\) .*/\1/p' "$TMP/$1.out" | tail -n 1)
	echo "${r:-0}"
}

# repairs_above NAME N: driver NAME has printed a repair count above N.
repairs_above() { (($(repairs_of "$1") > $2)); }

# drift_repaired NAME HEALTHY REACHES WHAT CMD...: breaks something (WHAT)
# with CMD while driver NAME runs, then waits until the command HEALTHY
# holds again, the driver's repair count has moved and the command
# REACHES succeeds. The repair's time is reported, not judged (a deadline
# is a limit on failure, a bound in milliseconds would test the load).
drift_repaired() {
	local name=$1 healthy=$2 reaches=$3 what=$4 before t0 t1
	shift 4
	before=$(repairs_of "$name")
	t0=$(now_ms)
	"$@" || fail "could not break: $what"
	wait_for 30 "$healthy" || fail "$what: not repaired (waited 30 s)"
	t1=$(now_ms)
	wait_for 30 repairs_above "$name" "$before" || true
	(($(repairs_of "$name") > before)) || fail "$what: repaired but kern_stats.repairs did not move"
	wait_for 30 "$reaches" || fail "$what: traffic does not flow after the repair ($reaches)"
	pass "$what repaired in $((t1 - t0)) ms (repairs=$(repairs_of "$name"))"
}
