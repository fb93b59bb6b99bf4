#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --routing bgp carries the /64s too (issue 17): three dual-stack nodes
# and a route reflector (host4, plain BIRD with deploy/bird/rr.conf) on
# one IPv4-only switch, each node with its one IPv4 BGP session.
#   - Each node announces its /64 on that session with the link-local
#     address of its underlay link as next hop (Linux takes no IPv4 next
#     hop for an IPv6 route); the reflector passes it on unchanged, and
#     every other node's kernel holds `/64 via fe80::... dev eth0 proto
#     bird`, the announcing node's own eth0 link-local address.
#   - Every NS1 pings every other NS1 over IPv6 and over IPv4.
#   - status --json lists the /64s with their link-local next hops and
#     source bgp, beside the /24s.
#   - Hostile IPv6 routes from the reflector (a /48 over the cluster
#     range, a default route, a node's own /64) are refused by the nodes'
#     import filters: in no kernel.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

lab_init
lab up --hosts 4 --no-agent >/dev/null || fail "deploy/lab up"
labdir=/run/nsagent-lab/$NSAGENT_LAB
RR=192.168.1.8 # host4
NODES=(1 2 3)

bgp_reflector host4 rr.conf
start_bird host4
bgp_nodes_start "${NODES[@]}" -- --bgp-peer "$RR"

# LLA[i]: the link-local address of node i's eth0 (its underlay link).
declare -A LLA
for i in "${NODES[@]}"; do
	LLA[$i]=$(lab exec "host$i" -- ip -6 -o addr show dev eth0 scope link | awk '{print $4}' | cut -d/ -f1)
	[[ ${LLA[$i]} == fe80:* ]] || fail "host$i: no link-local address on eth0: '${LLA[$i]}'"
done

# Node i's /64 (the /24's index in the cluster range, as ip prints it)
# and its NS1's address.
net6() {
	local n=$(($1 - 1))
	((n == 0)) && echo "fd6e:7361:6765::/64" || echo "fd6e:7361:6765:$(printf %x "$n")::/64"
}
ns1_6() { echo "fd6e:7361:6765:$(printf %x $(($1 - 1)))::2"; }

# bird_routes6 HOST: the IPv6 routes BIRD installed on HOST, "dst via gw dev".
bird_routes6() {
	lab exec "$1" -- ip -6 route show proto bird | awk '{print $1, $2, $3, $4, $5}' | sort
}
want_routes6() {
	local i=${1#host} j
	for j in "${NODES[@]}"; do
		((j == i)) || echo "$(net6 "$j") via ${LLA[$j]} dev eth0"
	done | sort
}
has_routes6() { [[ $(bird_routes6 "$1") == "$(want_routes6 "$1")" ]]; }

poll 60 bgp_ready 1 "${NODES[@]}" || fail "IPv4: the cluster did not converge: $(bird_routes host1 | tr '\n' ';')"
for i in "${NODES[@]}"; do
	poll 30 has_routes6 "host$i" ||
		fail "host$i: IPv6 BGP routes are '$(bird_routes6 "host$i" | tr '\n' ';')', want '$(want_routes6 "host$i" | tr '\n' ';')'"
done

# NS1 to NS1 over both families, every ordered pair.
reaches_all "${NODES[@]}" || fail "IPv4: not every pair reaches"
for a in "${NODES[@]}"; do
	for b in "${NODES[@]}"; do
		((a != b)) || continue
		# Polled: the first echo waits for neighbour discovery on three
		# links, which a loaded machine can stretch past one ping's wait.
		poll 15 lab exec "host$a" NS1 -- ping -6 -n -c 1 -W 1 "$(ns1_6 "$b")" >/dev/null ||
			fail "IPv6: NS1@host$a cannot reach NS1@host$b ($(ns1_6 "$b"))"
	done
done

# status: the two /24s and the two /64s, each with its next hop, source bgp.
for i in "${NODES[@]}"; do
	json=$(status_json "host$i")
	for j in "${NODES[@]}"; do
		((i != j)) || continue
		jq -e --arg p "$(net6 "$j")" --arg via "${LLA[$j]}" \
			'any(.bgp.routes[]; .subnet == $p and .next_hop == $via and .source == "bgp")' \
			<<<"$json" >/dev/null || fail "host$i: status --json has no $(net6 "$j") via ${LLA[$j]}: $json"
	done
	jq -e '(.bgp.routes | length) == 4 and .healthy' <<<"$json" >/dev/null ||
		fail "host$i: status --json BGP routes: $json"
	lab exec "host$i" -- "$NSAGENT" status | grep -E "^$(net6 $((i % 3 + 1))) +${LLA[$((i % 3 + 1))]} +bgp" |
		grep_q . || fail "host$i: status text has no route for $(net6 $((i % 3 + 1)))"
done

# Hostile IPv6 routes at the reflector, next hop host1's link-local address
# (the reflector's own link has no global IPv6 address to give them).
cat >"$labdir/host4/etc/bird.conf" <<CONF
include "$NSAGENT_SOURCE_DIR/deploy/bird/rr.conf";
protocol static hostile6 {
	ipv6;
	route fd6e:7361:6765::/48 blackhole { bgp_next_hop = ${LLA[1]}; };
	route ::/0 blackhole { bgp_next_hop = ${LLA[1]}; };
	route $(net6 2) blackhole { bgp_next_hop = ${LLA[1]}; };
}
CONF
bird_on host4 configure >/dev/null || fail "the reflector does not take the hostile routes"
for i in 2 3; do
	poll 30 bird_filtered "host$i" fd6e:7361:6765::/48 ::/0 ||
		fail "host$i: the hostile IPv6 routes did not arrive (filtered): $(bird_on "host$i" show route filtered)"
	routes_now=$(lab exec "host$i" -- ip -6 route show proto bird)
	grep_q -E '^(fd6e:7361:6765::/48|default) ' <<<"$routes_now" &&
		fail "host$i: a hostile IPv6 route is in the kernel: $routes_now"
done
bird_on host2 show route filtered "$(net6 2)" | grep_q "$(net6 2)" ||
	fail "host2: its own /64 from the reflector was not filtered"
has_routes6 host2 || fail "host2: IPv6 routes changed: $(bird_routes6 host2 | tr '\n' ';')"
# (The reflector prefers its static route for host2's /64 to host2's own:
# the others lose theirs, as with IPv4 in test_bgp_six. host1 and host3
# keep each other.)
lab exec host1 NS1 -- ping -6 -n -c 1 -W 2 "$(ns1_6 3)" >/dev/null || fail "IPv6: NS1@host1 lost host3"
echo "PASS: BGP carries the /64s over IPv4 sessions: via each node's link-local address, all pairs reach over both families, hostile /64s refused"
