#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real traffic through the agent's nftables table (src/kernel/nft.c):
# a namespace reaching a host outside the cluster is masqueraded to the
# node's address; traffic to and from another node's cluster address keeps
# the namespace's own address and is not connection-tracked, nor is VXLAN
# to and from the node's VTEP (its address on the peer link here).
#
#   ns ──veth── node (bridge, 172.16.0.1/24) ──veth── outside 198.51.100.2
#                    │                                 (no route back to the cluster)
#                    └──veth── peer node 192.168.77.2, holds cluster address 172.16.1.1
#
# Everything lives in namespaces made here, inside a throwaway network +
# mount + pid namespace (no process outlives the test); the machine's own
# network is never touched.
set -euo pipefail

# shellcheck source=tests/kernel/traffic_lib.sh
source "$(dirname "$0")/traffic_lib.sh"

# node: bridge with the local subnet, one namespace behind it
nsx "$NODE" ip link add "$BR" type bridge
nsx "$NODE" ip addr add 172.16.0.1/24 dev "$BR"
nsx "$NODE" ip link set "$BR" up
nsx "$NODE" ip link add vh0 type veth peer name eth0 netns "$NS"
nsx "$NODE" ip link set vh0 master "$BR" up
nsx "$NS" ip addr add 172.16.0.2/24 dev eth0
nsx "$NS" ip link set eth0 up
nsx "$NS" ip route add default via 172.16.0.1

# node <-> outside host (which knows nothing of the cluster range)
nsx "$NODE" ip link add up-out type veth peer name eth0 netns "$OUT"
nsx "$NODE" ip addr add 198.51.100.1/24 dev up-out
nsx "$NODE" ip link set up-out up
nsx "$OUT" ip addr add 198.51.100.2/24 dev eth0
nsx "$OUT" ip link set eth0 up

# node <-> peer node, which holds a cluster address of its own subnet
nsx "$NODE" ip link add up-peer type veth peer name eth0 netns "$PEER"
nsx "$NODE" ip addr add 192.168.77.1/24 dev up-peer
nsx "$NODE" ip link set up-peer up
nsx "$NODE" ip route add 172.16.1.0/24 via 192.168.77.2
nsx "$PEER" ip addr add 192.168.77.2/24 dev eth0
nsx "$PEER" ip link set eth0 up
nsx "$PEER" ip addr add 172.16.1.1/32 dev lo
nsx "$PEER" ip route add 172.16.0.0/24 via 192.168.77.1

nsx "$NODE" sysctl -qw net.ipv4.ip_forward=1

# Each server answers a connection with the address it saw the client as.
serve() {
	# Not through nsx: $! must be socat itself (ip netns exec execs it).
	ip netns exec "$1" socat TCP-LISTEN:$PORT,reuseaddr,fork SYSTEM:'echo $SOCAT_PEERADDR' &
	PIDS+=($!)
}
listening() { [[ -n "$(nsx "$1" ss -Hltn "sport = :$PORT")" ]]; }
serve "$OUT"
serve "$PEER"
serve "$NS"
for n in "$OUT" "$PEER" "$NS"; do
	poll 10 listening "$n" || fail "server in $n not listening"
done

# Prints the address the server at $2 saw a client in namespace $1 as.
seen_as() {
	local extra=${3:+,bind=$3}
	nsx "$1" timeout 10 socat -T 5 - "TCP:$2:$PORT,connect-timeout=3$extra" </dev/null 2>/dev/null
}

echo "== without the table, the outside host cannot answer (no route back)"
if seen_as "$NS" 198.51.100.2 >/dev/null; then
	fail "outside reachable without NAT: the test topology proves nothing"
fi

echo "== apply the table"
out=$(nsx "$NODE" "$DRIVER" apply 172.16.0.0/24 172.16.0.0/16 "$BR" --vtep 192.168.77.1) || fail "apply failed"
[[ "$out" == "changed=1" ]] || fail "apply printed '$out'"

echo "== namespace -> outside is masqueraded to the node's address"
got=$(seen_as "$NS" 198.51.100.2) || fail "namespace cannot reach the outside host"
[[ "$got" == "198.51.100.1" ]] || fail "outside host saw '$got', want the node's 198.51.100.1"

echo "== namespace -> peer node keeps its source"
got=$(seen_as "$NS" 172.16.1.1) || fail "namespace cannot reach the peer's cluster address"
[[ "$got" == "172.16.0.2" ]] || fail "peer saw '$got', want the namespace's 172.16.0.2"

echo "== peer node -> namespace keeps its source"
got=$(seen_as "$PEER" 172.16.0.2 172.16.1.1) || fail "peer cannot reach the namespace"
[[ "$got" == "172.16.1.1" ]] || fail "namespace saw '$got', want the peer's 172.16.1.1"

# Rule counters as "<comment> <packets>" lines.
counters() {
	nsx "$NODE" nft -j list table inet "$1" | python3 -c '
import json, sys
for item in json.load(sys.stdin)["nftables"]:
    rule = item.get("rule")
    if not rule:
        continue
    packets = sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    print(rule["chain"], rule.get("comment", "-").replace(" ", "_"), packets)'
}
packets() { counters "$1" | awk -v c="$2" -v m="$3" '$1 == c && $2 ~ m { s += $3 } END { print s + 0 }'; }

echo "== counters: masquerade used, cluster traffic untracked and accepted"
(($(packets nsagent postrouting masquerade) >= 1)) || fail "masquerade counter did not move"
(($(packets nsagent raw_prerouting cluster-internal) >= 2)) || fail "notrack counter did not move"
(($(packets nsagent forward bridge_to_cluster) >= 1)) || fail "bridge->cluster accept counter did not move"
(($(packets nsagent forward cluster_to_bridge) >= 1)) || fail "cluster->bridge accept counter did not move"

echo "== conntrack state seen by a later hook: cluster flow untracked, outbound tracked"
# Also VXLAN to and from the node's VTEP, seen at input and output.
nsx "$NODE" nft -f - <<NFT
table inet probe$TAG {
	chain probe {
		type filter hook forward priority 10;
		ip daddr 172.16.1.1 ct state untracked counter comment "cluster_untracked"
		ip daddr 172.16.1.1 ct state new,established counter comment "cluster_tracked"
		ip daddr 198.51.100.2 ct state new,established counter comment "outbound_tracked"
	}
	chain in {
		type filter hook input priority 10;
		udp dport 4789 ct state untracked counter comment "vxlan_in_untracked"
		udp dport 4789 ct state new,established counter comment "vxlan_in_tracked"
		udp dport 4790 ct state new counter comment "other_in_tracked"
	}
	chain out {
		type filter hook output priority 10;
		udp dport 4789 ct state untracked counter comment "vxlan_out_untracked"
		udp dport 4789 ct state new,established counter comment "vxlan_out_tracked"
	}
}
NFT
seen_as "$NS" 172.16.1.1 >/dev/null || fail "cluster flow failed with probe table"
seen_as "$NS" 198.51.100.2 >/dev/null || fail "outbound flow failed with probe table"
(($(packets "probe$TAG" probe cluster_untracked) >= 1)) || fail "cluster flow was tracked"
(($(packets "probe$TAG" probe cluster_tracked) == 0)) || fail "cluster flow entered conntrack"
(($(packets "probe$TAG" probe outbound_tracked) >= 1)) || fail "outbound flow not tracked"

echo "== VXLAN to and from the node's VTEP untracked; other UDP tracked"
# Datagrams nobody listens for: the hooks see them all the same.
nsx "$PEER" bash -c 'echo x >/dev/udp/192.168.77.1/4789; echo x >/dev/udp/192.168.77.1/4790'
nsx "$NODE" bash -c 'echo x >/dev/udp/192.168.77.2/4789'
(($(packets "probe$TAG" in vxlan_in_untracked) >= 1)) || fail "VXLAN to the VTEP was tracked"
(($(packets "probe$TAG" in vxlan_in_tracked) == 0)) || fail "VXLAN to the VTEP entered conntrack"
(($(packets "probe$TAG" in other_in_tracked) >= 1)) || fail "other UDP to the node was not tracked"
(($(packets "probe$TAG" out vxlan_out_untracked) >= 1)) || fail "VXLAN from the VTEP was tracked"
(($(packets "probe$TAG" out vxlan_out_tracked) == 0)) || fail "VXLAN from the VTEP entered conntrack"
(($(packets nsagent raw_prerouting VXLAN_to_this_node) >= 1)) || fail "VXLAN notrack counter (in) did not move"
(($(packets nsagent raw_output VXLAN_from_this_node) >= 1)) || fail "VXLAN notrack counter (out) did not move"

echo "== remove: outside unreachable again, cluster still fine, probe table untouched"
nsx "$NODE" "$DRIVER" remove >/dev/null || fail "remove failed"
nsx "$NODE" nft list table inet nsagent >/dev/null 2>&1 && fail "table left after remove"
nsx "$NODE" nft list table inet "probe$TAG" >/dev/null || fail "remove touched a foreign table"
got=$(seen_as "$NS" 172.16.1.1) || fail "cluster flow failed after remove"
[[ "$got" == "172.16.0.2" ]] || fail "peer saw '$got' after remove"
if seen_as "$NS" 198.51.100.2 >/dev/null; then
	fail "outside still reachable after remove"
fi

echo "PASS"
