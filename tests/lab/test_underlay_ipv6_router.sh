#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# VXLAN over an IPv6-only underlay, through a router (deploy/lab up
# --topology router --underlay ipv6: host1 2001:db8:1::5 on one segment,
# host2 2001:db8:2::6 on the other, no IPv4 on either). With --backend
# auto each agent finds the other behind a gateway and tunnels: its VXLAN
# device takes its IPv6 node address as local address, the FDB entry of
# the peer's VTEP MAC points at the peer's IPv6 address, and the MTU
# leaves room for the 70 bytes of an IPv6 outer header (1430 for the
# device, the bridge and the namespaces). NS1 <-> NS1 both ways over IPv4
# and IPv6: full-size packets with DF, 4 MiB of TCP, the source address
# kept; status says vxlan for both families; the FDB entry deleted by hand
# comes back.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"

datapath_init underlay6_router
lab up --hosts 2 --topology router --underlay ipv6 >/dev/null ||
	fail "deploy/lab up --topology router --underlay ipv6"
pass() { echo "ok: $*"; }

N1=2001:db8:1::5
N2=2001:db8:2::6
NS1_1=172.16.0.2
NS1_2=172.16.1.2
NS1_1_6=fd6e:7361:6765::2
NS1_2_6=fd6e:7361:6765:1::2

[[ -z $(lab exec host1 -- ip -4 -o addr show dev eth0) ]] || fail "host1's eth0 has IPv4"
lab exec host1 -- ip -6 route show default | grep_q "via 2001:db8:1::1" ||
	fail "host1 has no IPv6 default route via the router: $(lab exec host1 -- ip -6 route)"

route4() { lab exec "$1" -- ip -4 route show proto nsagent; }
route6() { lab exec "$1" -- ip -6 route show proto nsagent; }
tunneled() {
	route4 "$1" | grep_q "^$2 via ${2%/*} dev nsa-vxlan onlink" &&
		route6 "$1" | grep_q "^$3 via fe80::[0-9a-f:]* dev nsa-vxlan "
}
poll 30 tunneled host1 172.16.1.0/24 fd6e:7361:6765:1::/64 ||
	fail "host1 does not tunnel to host2: $(route4 host1); $(route6 host1)"
poll 30 tunneled host2 172.16.0.0/24 fd6e:7361:6765::/64 ||
	fail "host2 does not tunnel to host1: $(route4 host2); $(route6 host2)"
pass "routes through the tunnel: $(route4 host1); $(route6 host1)"

dev=$(lab exec host1 -- ip -d link show nsa-vxlan)
grep_q "vxlan id 7470 local $N1 .*dstport 4789" <<<"$dev" || fail "host1's VXLAN device is not over IPv6: $dev"
grep_q "mtu 1430 " <<<"$dev" || fail "host1's VXLAN device MTU is not 1500 - 70: $dev"
[[ $(mtu host1 NS1 eth0) == 1430 ]] || fail "NS1's MTU on host1 is $(mtu host1 NS1 eth0), not 1430"
fdb() { lab exec host1 -- bridge fdb show dev nsa-vxlan; }
fdb | grep_q " dst $N2 self permanent" || fail "no FDB entry to host2's IPv6 VTEP: $(fdb)"
[[ $(peer_field host1 "$N2" mode) == vxlan && $(peer_field host1 "$N2" mode6) == vxlan ]] ||
	fail "status: $(status_json host1 | jq -c .peers)"
pass "VXLAN device local $N1, MTU 1430, FDB entry to $N2; status says vxlan for both families"

for fam in 4 6; do
	if ((fam == 4)); then a1=$NS1_1 a2=$NS1_2; else a1=$NS1_1_6 a2=$NS1_2_6; fi
	ns1_crossing "$a1" "$a2"
	pass "IPv$fam over VXLAN over IPv6: ping, full-size (1430) DF, source kept, 4 MiB over TCP both ways"
done

# Drift: the FDB entry deleted by hand comes back, and traffic with it.
mac=$(fdb | awk -v n="$N2" '$3 == n {print $1; exit}')
[[ -n $mac ]] || fail "no MAC for $N2 in: $(fdb)"
lab exec host1 -- bridge fdb del "$mac" dev nsa-vxlan dst "$N2" self
poll 30 eval 'fdb | grep_q " dst $N2 self permanent"' || fail "deleted FDB entry not repaired: $(fdb)"
poll 30 lab exec host1 NS1 -- ping -n -c 1 -W 1 "$NS1_2" >/dev/null || fail "no traffic after the FDB repair"
pass "deleted FDB entry to $N2 repaired"
echo PASS
