#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kern_down removes exactly what the agent made: its named namespaces (and
# with them their veths), its bridge and its protocol-78 routes; a foreign
# namespace, a foreign bridge and foreign routes survive. It works without a
# running agent and a second run finds nothing to do. The agent's root links
# are in device group 7470 (removed with one request); a foreign link put in
# that group survives, and a link of ours outside it is still removed.
source "$(dirname "$0")/kern_lib.sh"

BR=br$$
N1=A$$
N2=B$$
ip netns add "F$$" # foreign namespace, no eth0
ip netns add "G$$" # foreign namespace with an eth0 of its own
ip -n "G$$" link add eth0 type bridge
ip link add "fb$$" type bridge # foreign bridge
ip link add "up$$" type veth peer name ul0 netns "F$$"
ip addr add 10.99.43.1/24 dev "up$$"
ip link set "up$$" up
ip route add 172.16.80.0/24 via 10.99.43.2 proto static
ip route add 172.16.81.0/24 via 10.99.43.2 table 100 proto 78

drive a1 apply --bridge "$BR" --subnet 172.16.43.0/24 --ns "$N1,$N2" \
	--route 172.16.90.0/24=10.99.43.2 --route 172.16.91.0/24=10.99.43.3
[[ -e /run/netns/$N1 ]] && ip link show "$BR" >/dev/null && ip route show proto 78 | grep_q 172.16.90.0 ||
	fail "apply did not build the topology"
in_group=$(ip -o link show group 7470 | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')
[[ $in_group == "$BR nsa-$N1 nsa-$N2 " ]] || fail "group 7470 holds '$in_group', want '$BR nsa-$N1 nsa-$N2 '"
# A link of ours taken out of the group (as an older nsagent made them) is
# put back by the next apply.
ip link set "nsa-$N2" group default
drive a1b apply --bridge "$BR" --subnet 172.16.43.0/24 --ns "$N1,$N2" \
	--route 172.16.90.0/24=10.99.43.2 --route 172.16.91.0/24=10.99.43.3
ip -o link show group 7470 | grep_q "nsa-$N2@" || fail "apply did not put nsa-$N2 back in group 7470"
pass "root links in group 7470"
# A foreign link in our group, and one of ours outside it.
ip link add "fg$$" group 7470 type bridge
ip link set "nsa-$N2" group default

drive d1 down --bridge "$BR"
[[ ! -e /run/netns/$N1 && ! -e /run/netns/$N2 ]] || fail "our namespaces remain: $(ls /run/netns)"
ip link show "$BR" >/dev/null 2>&1 && fail "bridge $BR remains"
[[ -z $(ip route show proto 78) ]] || fail "owned routes remain: $(ip route show proto 78)"
no_veths() { ! ip -o link show | grep_q "nsa-"; }
# The veths go with their namespaces, which the kernel frees asynchronously.
wait_for 30 no_veths || fail "veths remain: $(ip -o link show | grep nsa-)"
pass "owned objects gone"

[[ -e /run/netns/F$$ && -e /run/netns/G$$ ]] || fail "a foreign namespace was removed"
ip -n "G$$" link show eth0 >/dev/null || fail "foreign eth0 touched"
ip link show "fb$$" >/dev/null || fail "foreign bridge removed"
ip link show "fg$$" >/dev/null || fail "foreign bridge in group 7470 removed"
ip link del "fg$$"
ip route show 172.16.80.0/24 proto static | grep_q via || fail "foreign route removed"
ip route show table 100 proto 78 | grep_q 172.16.81.0 || fail "proto-78 route of another table removed"
pass "foreign objects kept"

drive d2 down --bridge "$BR"
pass "second down is a no-op"

# An adopted bridge (not made by the agent) is managed but not removed.
ip link add "$BR" type bridge
drive a2 apply --bridge "$BR" --subnet 172.16.43.0/24 --ns "$N1"
ip netns exec "$N1" ping -c1 -W1 172.16.43.1 >/dev/null || fail "adopted bridge does not carry traffic"
drive d3 down --bridge "$BR"
ip link show "$BR" >/dev/null 2>&1 || fail "down removed a bridge the agent did not create"
[[ ! -e /run/netns/$N1 ]] || fail "$N1 remains after down"
pass "adopted bridge kept"
echo PASS
