#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# VXLAN over an IPv6-only underlay (src/kernel/vxlan.c): the device takes
# an IPv6 local address, each peer's FDB entry an IPv6 remote, and both
# IPv4 and IPv6 traffic between the nodes' subnets crosses it, full-size
# with DF at the MTU that the IPv6 outer header leaves (70 bytes less than
# the underlay's). The VXLAN UDP of the node is not connection-tracked, the
# routes are listed for adoption with their IPv6 VTEP, a deleted FDB entry
# comes back, and `down` removes the device.
#
#   v1 ── nsa0 (172.16.1.1, fd6e:7361:6765:1::1) host 1 ═ u1 fd00:99::1 ══╗
#                                                                         ║ IPv6 only
#   host 2 (namespace h2) nsa0 (172.16.2.1, fd6e:7361:6765:2::1) ═ u2 fd00:99::2
#
# Host 1 is this test's sandbox, host 2 a namespace made in it: the
# machine's own network is never touched.
source "$(dirname "$0")/kern_lib.sh"

H2=h2-$TAG
MAC1=02:6e:00:00:00:01
MAC2=02:6e:00:00:00:02
S6_1=fd6e:7361:6765:1::/64
S6_2=fd6e:7361:6765:2::/64
cleanup_h2() {
	kern_cleanup
	ip netns del "$H2" 2>/dev/null || true
}
trap cleanup_h2 EXIT

ip netns add "$H2"
ip -n "$H2" link set lo up
ip link add u1 type veth peer name u2 netns "$H2"
ip -6 addr add fd00:99::1/64 dev u1 nodad
ip -n "$H2" -6 addr add fd00:99::2/64 dev u2 nodad
ip link set u1 up
ip -n "$H2" link set u2 up
ip -4 addr show dev u1 | grep_q inet && fail "the underlay has an IPv4 address"

# Host 2, from its own network namespace (same mount namespace: the
# driver's namespaces land in this sandbox's /run/netns).
nsenter --net=/run/netns/"$H2" "$DRIVER" apply --bridge nsa0 --subnet 172.16.2.0/24 \
	--subnet6 "$S6_2" --cluster6 fd6e:7361:6765::/48 --ns v2 --mtu 1430 \
	--vtep fd00:99::2 --vtep-mac "$MAC2" --vxlan-mtu 1430 \
	--route "172.16.1.0/24=vxlan,fd00:99::1,$MAC1" --route "$S6_1=vxlan,fd00:99::1,$MAC1" \
	>"$TMP/h2.out" 2>"$TMP/h2.err" || fail "host 2: $(cat "$TMP/h2.err")"

# Host 1 stays, watching for drift.
drive_bg h1 apply --bridge nsa0 --subnet 172.16.1.0/24 --subnet6 "$S6_1" \
	--cluster6 fd6e:7361:6765::/48 --ns v1 --mtu 1430 \
	--vtep fd00:99::1 --vtep-mac "$MAC1" --vxlan-mtu 1430 \
	--route "172.16.2.0/24=vxlan,fd00:99::2,$MAC2" --route "$S6_2=vxlan,fd00:99::2,$MAC2"

ip -d link show nsa-vxlan | grep_q 'vxlan id 7470 local fd00:99::1 .*dstport 4789' ||
	fail "device not over IPv6: $(ip -d link show nsa-vxlan)"
ip link show nsa-vxlan | grep_q 'mtu 1430' || fail "device MTU: $(ip link show nsa-vxlan)"
bridge fdb show dev nsa-vxlan | grep_q "^$MAC2 dst fd00:99::2 self permanent" ||
	fail "FDB entry: $(bridge fdb show dev nsa-vxlan)"
pass "VXLAN device with an IPv6 local address, FDB entry to an IPv6 VTEP"

nft list table inet nsagent | grep_q 'ip6 daddr fd00:99::1 udp dport 4789 .*notrack' ||
	fail "no IPv6 VXLAN notrack rule: $(nft list table inet nsagent)"
nft list table inet nsagent | grep_q 'ip6 saddr fd00:99::1 udp dport 4789 .*notrack' ||
	fail "no IPv6 VXLAN notrack rule (output)"
pass "the node's VXLAN over IPv6 is not connection-tracked"

reaches4() { ip netns exec v1 ping -c 1 -W 1 -M "do" -s 1402 172.16.2.1 >/dev/null; }
reaches6() { ip netns exec v1 ping -6 -c 1 -W 1 -M "do" -s 1382 fd6e:7361:6765:2::1 >/dev/null; }
wait_for 30 reaches4 || fail "IPv4 over VXLAN over IPv6: no full-size DF ping answered"
wait_for 30 reaches6 || fail "IPv6 over VXLAN over IPv6: no full-size DF ping answered"
ip netns exec v1 ping -c 1 -W 1 -M "do" -s 1403 172.16.2.1 >/dev/null 2>&1 &&
	fail "a packet past the VXLAN MTU went through with DF"
pass "namespace to node 2 over VXLAN over IPv6, IPv4 (1430) and IPv6, full size with DF"

drive g1 get-routes
sort "$TMP/g1.out" | diff - <(printf '%s\n' "172.16.2.0/24=vxlan,fd00:99::2,$MAC2" \
	"$S6_2=vxlan,fd00:99::2,$MAC2" | sort) || fail "get-routes listed: $(cat "$TMP/g1.out")"
pass "owned routes listed for adoption with their IPv6 VTEP"

fdb_back() { bridge fdb show dev nsa-vxlan | grep -q "^$MAC2 dst fd00:99::2 self permanent"; }
drift_repaired h1 fdb_back reaches4 "FDB entry to an IPv6 VTEP deleted by hand" \
	bridge fdb del "$MAC2" dev nsa-vxlan dst fd00:99::2 self
wait_for 30 reaches6 || fail "IPv6 does not flow after the FDB repair"
reap "${KERN_PIDS[@]}"
KERN_PIDS=()

drive d1 down
ip link show nsa-vxlan >/dev/null 2>&1 && fail "down left the VXLAN device"
pass "down removes the device"
echo PASS
