#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Real IPv6 traffic through the agent's nftables table (src/kernel/nft.c)
# of a dual-stack node: a namespace reaching an IPv6 host outside the
# cluster is masqueraded (NAT66) to the node's address on that link;
# traffic to and from another node's cluster IPv6 address keeps the
# namespace's own address and is not connection-tracked; with NAT66 off
# (--masquerade6 off, for routed global prefixes) the outside host sees
# the namespace's own address, and the table has no IPv6 masquerade rule;
# without an IPv6 subnet the table has no IPv6 rule at all.
#
#   ns ──veth── node (bridge, fd6e:7361:6765::1/64) ──veth── outside 2001:db8:77::2
#                    │                                 (no route back to the cluster)
#                    └──veth── peer node fdaa:77::2, holds cluster address fd6e:7361:6765:1::1
#
# Everything lives in namespaces made here, inside a throwaway network +
# mount + pid namespace (no process outlives the test); the machine's own
# network is never touched.
set -euo pipefail

# shellcheck source=tests/kernel/traffic_lib.sh
source "$(dirname "$0")/traffic_lib.sh"
SUBNET6=fd6e:7361:6765::/64
CLUSTER6=fd6e:7361:6765::/48

# Addresses without duplicate address detection: usable at once.
addr6() { nsx "$1" ip -6 addr add "$2" dev "$3" nodad; }

# node: bridge with the local /64, one namespace behind it
nsx "$NODE" ip link add "$BR" type bridge
addr6 "$NODE" fd6e:7361:6765::1/64 "$BR"
nsx "$NODE" ip link set "$BR" up
nsx "$NODE" ip link add vh0 type veth peer name eth0 netns "$NS"
nsx "$NODE" ip link set vh0 master "$BR" up
addr6 "$NS" fd6e:7361:6765::2/64 eth0
nsx "$NS" ip link set eth0 up
nsx "$NS" ip -6 route add default via fd6e:7361:6765::1

# node <-> outside host (which knows nothing of the cluster range)
nsx "$NODE" ip link add up-out type veth peer name eth0 netns "$OUT"
addr6 "$NODE" 2001:db8:77::1/64 up-out
nsx "$NODE" ip link set up-out up
addr6 "$OUT" 2001:db8:77::2/64 eth0
nsx "$OUT" ip link set eth0 up

# node <-> peer node, which holds a cluster address of its own /64
nsx "$NODE" ip link add up-peer type veth peer name eth0 netns "$PEER"
addr6 "$NODE" fdaa:77::1/64 up-peer
nsx "$NODE" ip link set up-peer up
nsx "$NODE" ip -6 route add fd6e:7361:6765:1::/64 via fdaa:77::2
addr6 "$PEER" fdaa:77::2/64 eth0
nsx "$PEER" ip link set eth0 up
addr6 "$PEER" fd6e:7361:6765:1::1/128 lo
nsx "$PEER" ip -6 route add fd6e:7361:6765::/64 via fdaa:77::1

nsx "$NODE" sysctl -qw net.ipv6.conf.all.forwarding=1

# Each server answers a connection with the address it saw the client as.
serve() {
	ip netns exec "$1" socat TCP6-LISTEN:$PORT,reuseaddr,fork SYSTEM:'echo $SOCAT_PEERADDR' &
	PIDS+=($!)
}
listening() { [[ -n "$(nsx "$1" ss -Hltn "sport = :$PORT")" ]]; }
serve "$OUT"
serve "$PEER"
for n in "$OUT" "$PEER"; do
	poll 30 listening "$n" || fail "server in $n not listening"
done

# Prints the address the server at $2 saw a client in namespace $1 as
# (socat shows it in brackets and in full; printed compressed).
seen_as() {
	local got
	got=$(nsx "$1" timeout 10 socat -T 5 - "TCP6:[$2]:$PORT,connect-timeout=3" </dev/null 2>/dev/null) || return 1
	python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1].strip("[]")))' "$got"
}

echo "== without the table, the outside host cannot answer (no route back)"
if seen_as "$NS" 2001:db8:77::2 >/dev/null; then
	fail "outside reachable without NAT66: the test topology proves nothing"
fi

echo "== without an IPv6 subnet the table has no IPv6 rule"
out=$(nsx "$NODE" "$DRIVER" apply 172.16.0.0/24 172.16.0.0/16 "$BR") || fail "apply (IPv4 only) failed"
[[ "$out" == "changed=1" ]] || fail "apply printed '$out'"
if nsx "$NODE" nft list table inet nsagent | grep_q 'ip6\|nfproto ipv6'; then
	fail "IPv4-only table has IPv6 rules"
fi

echo "== apply the dual-stack table"
out=$(nsx "$NODE" "$DRIVER" apply 172.16.0.0/24 172.16.0.0/16 "$BR" --subnet6 $SUBNET6 $CLUSTER6) ||
	fail "apply failed"
[[ "$out" == "changed=1" ]] || fail "apply printed '$out'"
nsx "$NODE" nft list chain inet nsagent postrouting |
	grep_q "ip6 saddr $SUBNET6 ip6 daddr != $CLUSTER6 counter packets [0-9]* bytes [0-9]* masquerade fully-random" ||
	fail "no NAT66 rule"
out=$(nsx "$NODE" "$DRIVER" apply 172.16.0.0/24 172.16.0.0/16 "$BR" --subnet6 $SUBNET6 $CLUSTER6) ||
	fail "second apply failed"
[[ "$out" == "changed=0" ]] || fail "second apply printed '$out': not idempotent"

echo "== namespace -> outside is masqueraded to the node's address"
got=$(seen_as "$NS" 2001:db8:77::2) || fail "namespace cannot reach the outside host over IPv6"
[[ "$got" == "2001:db8:77::1" ]] || fail "outside host saw '$got', want the node's 2001:db8:77::1"

echo "== namespace -> peer node keeps its source"
got=$(seen_as "$NS" fd6e:7361:6765:1::1) || fail "namespace cannot reach the peer's cluster address"
[[ "$got" == "fd6e:7361:6765::2" ]] || fail "peer saw '$got', want the namespace's fd6e:7361:6765::2"

echo "== conntrack state seen by a later hook: cluster flow untracked, outbound tracked"
nsx "$NODE" nft -f - <<NFT
table inet probe$TAG {
	chain probe {
		type filter hook forward priority 10;
		ip6 daddr fd6e:7361:6765:1::1 ct state untracked counter comment "cluster_untracked"
		ip6 daddr fd6e:7361:6765:1::1 ct state new,established counter comment "cluster_tracked"
		ip6 daddr 2001:db8:77::2 ct state new,established counter comment "outbound_tracked"
	}
}
NFT
seen_as "$NS" fd6e:7361:6765:1::1 >/dev/null || fail "cluster flow failed with probe table"
seen_as "$NS" 2001:db8:77::2 >/dev/null || fail "outbound flow failed with probe table"
packets() {
	nsx "$NODE" nft -j list table inet "probe$TAG" | python3 -c '
import json, sys
for item in json.load(sys.stdin)["nftables"]:
    rule = item.get("rule")
    if rule and rule.get("comment") == sys.argv[1]:
        print(sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e))' "$1"
}
(($(packets cluster_untracked) >= 1)) || fail "cluster IPv6 flow was tracked"
(($(packets cluster_tracked) == 0)) || fail "cluster IPv6 flow entered conntrack"
(($(packets outbound_tracked) >= 1)) || fail "outbound IPv6 flow not tracked"
nsx "$NODE" nft delete table inet "probe$TAG"

echo "== --masquerade6 off: no NAT66, the outside host sees the namespace (given a route back)"
out=$(nsx "$NODE" "$DRIVER" apply 172.16.0.0/24 172.16.0.0/16 "$BR" --subnet6 $SUBNET6 $CLUSTER6 --no-masquerade6) ||
	fail "apply without NAT66 failed"
[[ "$out" == "changed=1" ]] || fail "apply without NAT66 printed '$out'"
if nsx "$NODE" nft list chain inet nsagent postrouting | grep_q ip6; then
	fail "NAT66 rule present with masquerade6 off"
fi
nsx "$OUT" ip -6 route add $CLUSTER6 via 2001:db8:77::1
got=$(seen_as "$NS" 2001:db8:77::2) || fail "namespace cannot reach the outside host without NAT66"
[[ "$got" == "fd6e:7361:6765::2" ]] || fail "outside host saw '$got' with NAT66 off, want the namespace's own address"

echo "PASS"
