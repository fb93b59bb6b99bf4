#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --routing bgp with a route reflector behind a router (issue 17): the
# lab's router topology, two nodes (host1, host3) on 192.168.1.0/24 and
# the reflector (host2, 192.168.2.6, plain BIRD with
# deploy/bird/rr-routed.conf as it is) on 192.168.2.0/24.
#   - Each node renders its session to the reflector multihop (the
#     reflector is on none of its networks), with multihop BFD from its
#     node IP, and the session comes up through the router.
#   - Each node's kernel holds the other's subnet via the other's own
#     address on the shared segment (proto bird), not via the router or
#     the reflector, and NS1 reaches NS1 both ways.
#   - The BFD session to the reflector is up, multihop.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

lab_init
lab up --hosts 3 --topology router --no-agent >/dev/null || fail "deploy/lab up"
labdir=/run/nsagent-lab/$NSAGENT_LAB
RR=192.168.2.6 # host2, behind the router
NODES=(1 3)

bgp_reflector host2 rr-routed.conf
start_bird host2
bgp_nodes_start "${NODES[@]}" -- --bgp-peer "$RR"

for i in "${NODES[@]}"; do
	inc=$labdir/host$i/etc/bird-nsagent.conf
	grep_q -E "^\s+multihop; # $RR is on none of this host's networks" "$inc" ||
		fail "host$i: the session to $RR is not multihop: $(cat "$inc")"
	grep_q -E '^\s+direct;' "$inc" && fail "host$i: a direct session in the include: $(cat "$inc")"
done

poll 60 bgp_ready 1 "${NODES[@]}" || {
	for i in "${NODES[@]}"; do echo "host$i: $(bird_routes "host$i" | tr '\n' ';') $(bgp_established "host$i") sessions" >&2; done
	bird_on host1 show route all >&2 || true
	fail "the nodes did not converge through the reflector behind the router"
}
reaches_all "${NODES[@]}" || fail "not every pair reaches"

# BFD to the reflector: up, multihop (no interface).
bfd_up() { bird_on "$1" show bfd sessions | grep -E "^$RR +--- +Up" | grep_q .; }
for i in "${NODES[@]}"; do
	poll 30 bfd_up "host$i" || fail "host$i: no multihop BFD session up: $(bird_on "host$i" show bfd sessions)"
	status_json "host$i" | jq -e '(.bgp.sessions | length) == 1 and .bgp.sessions[0].established and
		.bgp.export == "on" and .healthy and (.bgp.routes | length) == 1' >/dev/null ||
		fail "host$i: status: $(status_json "host$i")"
done
echo "PASS: BGP through a reflector behind a router: multihop sessions and BFD, next hops on the segment, all pairs reach"
