#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# IPv6 between nodes behind a router (IPv4-only underlay, two subnets), 2
# hosts, --backend auto: the peers are not on-link, so each /64 goes inside
# the VXLAN tunnel, `via fe80::<EUI-64 of the peer's VTEP MAC> dev
# nsa-vxlan onlink` with a permanent IPv6 neighbour entry (the FDB entry is
# the IPv4 route's). NS1 <-> NS1 over IPv6: full-size packets with DF
# (the tunnel's MTU), 4 MiB of TCP, the source address kept. The neighbour
# deleted by hand comes back; `nsagent down` leaves no IPv6 route.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
datapath_init dp_ipv6_router
lab up --topology router --hosts 2 >/dev/null || fail "deploy/lab up --topology router --hosts 2"
poll 60 mesh_ready 2 || fail "no session across the router"

NET2=fd6e:7361:6765:1::/64
NS1_1=fd6e:7361:6765::2
NS1_2=fd6e:7361:6765:1::2
# host2 is 192.168.2.6: its VTEP MAC 02:6e:c0:a8:02:06, whose EUI-64
# link-local address is fe80::6e:c0ff:fea8:206.
GW2=fe80::6e:c0ff:fea8:206
route6() { lab exec "$1" -- ip -6 route show proto nsagent; }
has_route6() { route6 host1 | grep_q "^$NET2 via $GW2 dev nsa-vxlan .*onlink"; }
poll 30 has_route6 || fail "host1 has no IPv6 route over VXLAN to host2's /64: $(route6 host1)"
neigh=$(lab exec host1 -- ip -6 neigh show dev nsa-vxlan)
grep -q "^$GW2 lladdr 02:6e:c0:a8:02:06 PERMANENT" <<<"$neigh" || fail "host1's IPv6 neighbour for host2: $neigh"
fdb=$(lab exec host1 -- bridge fdb show dev nsa-vxlan)
[[ $(grep -c . <<<"$fdb") == 1 ]] || fail "not one FDB entry for host2, shared by both families: $fdb"
poll 30 peer_is host1 192.168.2.6 mode6 vxlan || fail "status mode6: $(peer_field host1 192.168.2.6 mode6)"
[[ $(peer_field host1 192.168.2.6 route6) == installed ]] || fail "status route6: $(peer_field host1 192.168.2.6 route6)"
echo "ok: IPv6 over VXLAN: $(route6 host1)"

poll 30 lab exec host1 NS1 -- ping -6 -n -c 1 -W 1 "$NS1_2" || fail "NS1@host1 cannot ping6 NS1@host2 over VXLAN"
[[ $(mtu host1 NS1 eth0) == 1450 ]] || fail "NS1's MTU is not the tunnel's (1450)"
full_size host1 NS1 "$NS1_2" || fail "full-size DF ping6 over VXLAN"
full_size host2 NS1 "$NS1_1" || fail "full-size DF ping6 over VXLAN (2 -> 1)"
src=$(seen_as "$NS1_2" host2 NS1 -- host1 NS1)
[[ $src == "$NS1_1" ]] || fail "NS1@host2 sees NS1@host1 as '$src', not $NS1_1"
out=$(bulk host2 NS1 host1 NS1 "$NS1_1") || fail "bulk TCP over IPv6 in VXLAN: $out"
echo "ok: ping6, full-size DF, source kept, 4 MiB over TCP/IPv6 in VXLAN"

lab exec host1 -- ip -6 neigh del "$GW2" dev nsa-vxlan
poll 30 sh -c "'$LABCTL' exec host1 -- ip -6 neigh show dev nsa-vxlan | grep -q '^$GW2 .*PERMANENT'" ||
	fail "IPv6 neighbour on nsa-vxlan not repaired"
lab exec host1 NS1 -- ping -6 -n -c 1 -W 2 "$NS1_2" >/dev/null || fail "ping6 after the neighbour's repair"
echo "ok: deleted IPv6 neighbour repaired"

lab exec host1 -- "$NSAGENT" down --config /dev/null || fail "nsagent down"
[[ -z $(route6 host1) ]] || fail "IPv6 routes left after down: $(route6 host1)"
echo PASS
