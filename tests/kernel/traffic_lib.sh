# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Sourced first by the nft traffic tests (test_nft_traffic*.sh): runs the
# test in its sandbox (sandbox.sh, a pid namespace too: no process the
# test starts outlives it) and makes the four namespaces of its topology,
# NODE (the node, bridge BR), NS (a namespace behind the bridge), OUT (a
# host outside the cluster) and PEER (a peer node), each with lo up,
# deleted at exit with the processes in PIDS (servers on PORT). fail()
# shows the node's ruleset; nsx NS CMD... runs CMD in namespace NS.
# shellcheck disable=SC2034 # SANDBOX_PID is sandbox.sh's; the rest the tests'
SANDBOX_PID=1
# shellcheck source=tests/kernel/sandbox.sh
source "$(dirname "${BASH_SOURCE[0]}")/sandbox.sh"

# grep -q quits at the first match, and the writer of a pipe into it may
# then die of SIGPIPE, which pipefail makes a failure: read everything.
grep_q() { grep "$@" >/dev/null; }

NODE=node-$TAG
NS=ns-$TAG
OUT=out-$TAG
PEER=peer-$TAG
BR=br0
PORT=7000
DRIVER=${NSAGENT_BUILD_DIR:?}/tests/nft_driver
PIDS=()

cleanup() {
	reap "${PIDS[@]}"
	for n in "$NS" "$OUT" "$PEER" "$NODE"; do
		ip netns del "$n" 2>/dev/null || true
	done
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	ip netns exec "$NODE" nft list ruleset >&2 || true
	exit 1
}

nsx() {
	local n=$1
	shift
	ip netns exec "$n" "$@"
}

for n in "$NODE" "$NS" "$OUT" "$PEER"; do
	ip netns add "$n"
	nsx "$n" ip link set lo up
done
