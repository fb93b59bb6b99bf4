#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Peers by host name and the node IP on a Vagrant-like host, 3 hosts.
# Every host gets a second, NAT-like interface (nat0) with the same
# address, 10.0.2.15, as VirtualBox gives every VM, and the same default
# route through it; the names node1..node3 are in each host's /etc/hosts
# (bound in its mount namespace). Then:
#   - host1, the first node, has no --peer: without --iface it refuses to
#     guess between its addresses, naming --iface and --node-ip; --iface
#     lo is refused (loopback); with --iface eth0 it takes 192.168.1.5;
#   - host2 joins with `--peer node1`, host3 with `--peer node2:7470`, no
#     --iface: the node IP is the source towards the peer (eth0's);
#   - no agent ever takes 10.0.2.15: not as node IP, not as next hop;
#   - the log shows each name with its address;
#   - a name is resolved again at each redial: host3 starts with node2
#     pointing nowhere, then /etc/hosts is fixed and the session comes up
#     at the new address without a restart.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

lab_init peers_names
lab up --hosts 3 --no-agent --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"
tmp=$(mktemp -d)
lab_at_exit 'rm -rf "$tmp"'

for i in 1 2 3; do
	printf '127.0.0.1 localhost\n192.168.1.5 node1\n192.168.1.6 node2\n192.168.1.7 node3\n' \
		>"$tmp/hosts$i"
	lab exec "host$i" -- sh -c '
		ip link add nat0 type veth peer name nat0-gw &&
		ip addr add 10.0.2.15/24 dev nat0 && ip link set nat0 up && ip link set nat0-gw up &&
		ip route replace default via 10.0.2.2 dev nat0 onlink &&
		mount --bind "$1" /etc/hosts' sh "$tmp/hosts$i" || fail "host$i: NAT-like interface"
done

node_ip() { lab exec "$1" -- "$NSAGENT" status --json | jq -r .node.ip; }
# start_fails HOST FLAGS...: the agent exits non-zero; prints its stderr.
start_fails() {
	local host=$1
	shift
	if lab exec "$host" -- timeout 20 "$NSAGENT" run --config /dev/null --run-dir "$tmp/run-fail" \
		--state-dir "$tmp/state-fail" --subnet 172.16.0.0/24 "$@" 2>&1; then
		fail "$host: the agent started with $*"
	fi
}

# The first node: which of its addresses the others reach is not for it to guess.
out=$(start_fails host1)
grep_q -F 'several addresses' <<<"$out" && grep_q -F 'give --iface or --node-ip' <<<"$out" &&
	grep_q -F '10.0.2.15 on nat0' <<<"$out" && grep_q -F '192.168.1.5 on eth0' <<<"$out" ||
	fail "host1 without --peer and --iface did not refuse naming both addresses: $out"
out=$(start_fails host1 --iface lo)
grep_q -F -- '--iface lo has no IPv4 address a peer could reach (127.0.0.1 is a loopback address)' <<<"$out" ||
	fail "--iface lo was not refused as loopback: $out"
out=$(start_fails host1 --iface nosuch0)
grep_q -F -- '--iface nosuch0: no such interface' <<<"$out" || fail "--iface nosuch0: $out"

lab agent host1 start --bare -- --iface eth0 --subnet 172.16.0.0/24 || fail "host1 with --iface eth0"
lab agent host2 start --bare -- --peer node1 --subnet 172.16.1.0/24 || fail "host2 with --peer node1"
# host3's node2 points nowhere at first: its dials fail until /etc/hosts is
# fixed, and then the next redial reaches node2 at the new address (no
# other node knows host3 yet, so only that redial can join it).
printf '127.0.0.1 localhost\n192.168.1.99 node2\n' >"$tmp/hosts3"
lab agent host3 start --bare -- --peer node2:7470 --subnet 172.16.2.0/24 \
	--connect-retry-max 1s || fail "host3 with --peer node2:7470"
lab agent host3 log | grep_q -F 'peer node2 is at 192.168.1.99:7470' ||
	fail "host3's log does not show node2 with its address at start"
failed_dial() { lab agent host3 log | grep_q -E 'peer node2 192\.168\.1\.99:7470: [a-z]+ -> idle \(tcp failed\)'; }
poll 30 failed_dial || fail "host3 never failed a dial to node2 at 192.168.1.99: $(lab agent host3 log | tail -n 5)"
printf '127.0.0.1 localhost\n192.168.1.5 node1\n192.168.1.6 node2\n192.168.1.7 node3\n' >"$tmp/hosts3"
lab wait --timeout 40 host3 -- sh -c "ip route show 172.16.1.0/24 | grep -q 'via 192.168.1.6 .*proto nsagent'" ||
	fail "host3 did not reach node2 at its new address"
lab agent host3 log | grep_q -F 'node2 now resolves to 192.168.1.6 (was 192.168.1.99:7470)' ||
	fail "host3's log does not show the redial's new address"
for i in 1 2 3; do
	ip=$(node_ip "host$i")
	[[ $ip == "192.168.1.$((4 + i))" ]] || fail "host$i chose node IP $ip, not its eth0 address"
done
lab agent host2 log | grep_q -F 'node IP 192.168.1.6 (the source address towards 192.168.1.5, peer node1)' ||
	fail "host2's log does not say why it chose its node IP"
lab agent host1 log | grep_q -F 'node IP 192.168.1.5 (the address of --iface eth0)' ||
	fail "host1's log does not say it took --iface eth0's address"

# A full mesh over eth0, and nothing through the NAT address.
for i in 1 2 3; do
	for j in 1 2 3; do
		((i == j)) && continue
		lab wait --timeout 30 "host$i" -- sh -c "ip route show 172.16.$((j - 1)).0/24 | grep -q 'via 192.168.1.$((4 + j)) .*proto nsagent'" ||
			fail "host$i: no route to host$j's subnet via its eth0 address"
	done
	if lab exec "host$i" -- ip route show proto nsagent | grep_q -F 10.0.2.15; then
		fail "host$i routes through 10.0.2.15"
	fi
done
lab agent host3 log | grep -E 'node2 192\.168\.1\.6:7470' | grep_q -v 'cannot' ||
	fail "host3's session log does not name node2 with its address"

echo PASS
