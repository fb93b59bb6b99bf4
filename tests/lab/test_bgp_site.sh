#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --routing bgp with a site router and a LAN host (issue 17): three nodes
# (host1..3), a route reflector (host4, deploy/bird/rr.conf) and a site
# router (host5, deploy/bird/site-router.conf as it is, forwarding), each
# plain BIRD without nsagent; a LAN host (host6, no agent, no BIRD) on the
# same segment routes the cluster range through the site router.
#   - The site router learns every node's subnet into its kernel, via the
#     node's address, and every node's /64, via the node's link-local
#     address; each node holds its two sessions (reflector, router).
#   - The LAN host reaches NS1 on every node, and a server in NS1 sees the
#     LAN host's own address (the router forwards, nobody translates).
#   - A namespace's own connection to the LAN host is masqueraded by
#     default (the server there sees the node's address); with
#     --masquerade-except for the LAN it arrives with NS1's address.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/bgp_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"

command -v socat >/dev/null || fail "socat is not installed: deploy/deps.sh"
lab_init
lab_at_exit dp_cleanup
lab up --hosts 6 --no-agent >/dev/null || fail "deploy/lab up"
RR=192.168.1.8     # host4
ROUTER=192.168.1.9 # host5
LAN=192.168.1.10   # host6
NODES=(1 2 3)

bgp_reflector host4 rr.conf
bgp_reflector host5 site-router.conf
lab exec host5 -- sysctl -qw net.ipv4.ip_forward=1
start_bird host4
start_bird host5
bgp_nodes_start "${NODES[@]}" -- --bgp-peer "$RR" --bgp-peer "$ROUTER"
lab exec host6 -- ip route add 172.16.0.0/16 via "$ROUTER"

# The router's kernel: every node's subnet via that node, from BIRD.
router_routes() { lab exec host5 -- ip -4 route show proto bird | awk '{print $1, $2, $3}' | sort; }
want_router=$(want_routes host0 "${NODES[@]}")
router_learned() { [[ $(router_routes) == "$want_router" ]]; }
poll 60 router_learned || fail "site router's routes: '$(router_routes)', want '$want_router'"
# And every node's /64, via the node's link-local address on the segment.
router_routes6() { lab exec host5 -- ip -6 route show proto bird | awk '{print $1, $2, $3}' | sort; }
want_router6=$(for i in "${NODES[@]}"; do
	n=$((i - 1))
	((n == 0)) && net="fd6e:7361:6765::/64" || net="fd6e:7361:6765:$n::/64"
	echo "$net via $(lab exec "host$i" -- ip -6 -o addr show dev eth0 scope link | awk '{print $4}' | cut -d/ -f1)"
done | sort)
router_learned6() { [[ $(router_routes6) == "$want_router6" ]]; }
poll 30 router_learned6 || fail "site router's IPv6 routes: '$(router_routes6)', want '$want_router6'"
poll 60 bgp_ready 2 "${NODES[@]}" || fail "the nodes did not converge with a reflector and the site router"
# The router announces nothing to the nodes: their routes are the
# reflector's alone (one path each).
for i in "${NODES[@]}"; do
	bird_on "host$i" show route protocol nsagent_peer2 | grep_q '^172\.' &&
		fail "host$i: took routes from the site router: $(bird_on "host$i" show route protocol nsagent_peer2)"
done

# The LAN host to NS1 of every node: a server there sees the LAN host.
for i in "${NODES[@]}"; do
	ns1=172.16.$((i - 1)).2
	lab exec host6 -- ping -n -c 1 -W 2 "$ns1" >/dev/null || fail "the LAN host cannot ping NS1@host$i ($ns1)"
	seen=$(seen_as "$ns1" "host$i" NS1 -- host6)
	[[ $seen == "$LAN" ]] || fail "NS1@host$i sees the LAN host as '$seen', want $LAN"
done

# NS1's own connection to the LAN host: masqueraded by default...
seen=$(seen_as "$LAN" host6 -- host1 NS1)
[[ $seen == 192.168.1.5 ]] || fail "the LAN host sees NS1@host1 as '$seen', want host1's address (masquerade)"
# ...and not with the LAN exempt (an agent restart: nothing else changes).
for i in "${NODES[@]}"; do
	bgp_agent "host$i" restart --bgp-peer "$RR" --bgp-peer "$ROUTER" \
		--masquerade-except 192.168.1.0/24
done
for i in "${NODES[@]}"; do
	ns1=172.16.$((i - 1)).2
	seen=$(seen_as "$LAN" host6 -- "host$i" NS1)
	[[ $seen == "$ns1" ]] ||
		fail "with --masquerade-except the LAN host sees NS1@host$i as '$seen', want $ns1"
done
# Outside the exempt range, still masqueraded.
seen=$(seen_as "$OUTSIDE" outside -- host1 NS1)
[[ $seen == 192.168.1.5 ]] || fail "the outside host sees NS1@host1 as '$seen', want host1's address"
echo "PASS: BGP site router: learns every subnet; the LAN reaches NS1 everywhere with its own address, and NS1 the LAN with its own under --masquerade-except"
