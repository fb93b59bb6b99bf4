#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Topology: bridge, named namespaces, veths, addresses and default routes are
# built and carry traffic, without taking the notifications of their own
# building for drift; a second apply changes nothing (its change counter
# and the kernel state, compared whole); a new process adopts the existing objects (same
# ifindexes); namespaces dropped from the topology are removed.
source "$(dirname "$0")/kern_lib.sh"

BR=br$$
N1=A$$
N2=B$$
N3=C$$
SUBNET=172.16.40.0/24

KERN_DRIVER_DEBUG=1 drive apply1 apply --bridge "$BR" --subnet $SUBNET --ns "$N1,$N2,$N3"
changes=$(out_value apply1 changes)
((changes > 0)) || fail "first apply reported changes=$changes"
pass "first apply: changes=$changes"
# The notifications of its own steps (a host end created before its alias
# is set, and so on) are not drift: taken for drift, they scheduled a
# repair pass after every bring-up.
drift=$(grep "kernel event:" "$TMP/apply1.err" || true)
[[ -z $drift ]] || fail "the first apply took its own steps for drift: $(head -n 3 <<<"$drift")"
pass "the first apply saw no drift in its own steps"

[[ -e /run/netns/$N1 && -e /run/netns/$N2 ]] || fail "named namespaces missing: $(ls /run/netns)"
ip netns list | grep_q -w "$N1" || fail "ip netns list does not show $N1"
ip -d link show "$BR" | grep_q 'bridge' || fail "$BR is not a bridge"
ip link show "$BR" | grep_q "alias nsagent:bridge" || fail "bridge lacks our alias"
ip -4 addr show dev "$BR" | grep_q 'inet 172.16.40.1/24' || fail "bridge address wrong: $(ip -4 addr show dev "$BR")"
ip link show "nsa-$N1" | grep_q "master $BR" || fail "host veth not on the bridge"
ip link show "nsa-$N1" | grep_q "alias nsagent:ns=$N1" || fail "host veth lacks alias"
ip -n "$N1" link show eth0 | grep_q "alias nsagent:ns=$N1" || fail "eth0 lacks alias"
ip -n "$N1" -4 addr show dev eth0 | grep_q 'inet 172.16.40.2/24' || fail "eth0 address wrong in $N1"
ip -n "$N2" -4 addr show dev eth0 | grep_q 'inet 172.16.40.3/24' || fail "eth0 address wrong in $N2"
ip -n "$N1" link show lo | grep_q ',UP' || fail "lo down in $N1"
ip -n "$N1" route show default | grep_q 'via 172.16.40.1 dev eth0' || fail "default route wrong in $N1"
[[ $(cat /proc/sys/net/ipv4/ip_forward) == 1 ]] || fail "ip_forward is not 1"
# Hairpin on every port the agent owns: a frame may leave by the port it
# came in by (a namespace reaching its own address through a forwarded
# path that comes back to the bridge).
for n in "$N1" "$N2" "$N3"; do
	bridge -d link show dev "nsa-$n" | grep_q 'hairpin on' ||
		fail "nsa-$n is not in hairpin mode: $(bridge -d link show dev "nsa-$n")"
done
pass "objects built"

# No IPv6 link-local address on either end of a namespace's veth (each
# would be announced with MLD reports flooded to every bridge port); lo
# keeps ::1. The bridge has a fixed MAC made from its address, so adding
# namespaces (whose ports may have lower MACs) never changes it.
for n in "$N1" "$N2"; do
	[[ -z $(ip -n "$n" -6 addr show dev eth0) ]] || fail "eth0 in $n has IPv6 addresses: $(ip -n "$n" -6 addr show dev eth0)"
	ip -n "$n" -6 addr show dev lo | grep_q 'inet6 ::1/128' || fail "lo in $n lacks ::1"
	[[ -z $(ip -6 addr show dev "nsa-$n") ]] || fail "nsa-$n has IPv6 addresses"
done
mac_of() { ip -o link show "$1" | grep -o "link/ether [0-9a-f:]*" | cut -d" " -f2; }
br_mac=$(mac_of "$BR")
[[ $br_mac == 02:62:ac:10:28:01 ]] || fail "bridge MAC $br_mac, want 02:62:ac:10:28:01 (from 172.16.40.1)"
pass "no IPv6 link-local addresses on the veths; fixed bridge MAC"

ip netns exec "$N1" ping -c1 -W1 172.16.40.3 >/dev/null || fail "ping $N1 -> $N2"
ip netns exec "$N2" ping -c1 -W1 172.16.40.2 >/dev/null || fail "ping $N2 -> $N1"
ip netns exec "$N1" ping -c1 -W1 172.16.40.1 >/dev/null || fail "ping $N1 -> bridge"
ping -c1 -W1 172.16.40.2 >/dev/null || fail "ping bridge -> $N1"
pass "pings"

# Idempotence and adoption: a new process, same state. The oracles are the
# agent's own change counter and the kernel state, compared whole before and
# after; not netlink events, which the kernel also sends on its own (ARP
# entries going stale after the pings above, bridge port notifications),
# at times no test controls.
br_index=$(ifindex "$BR")
veth_index=$(ifindex "nsa-$N1")
eth0_index=$(ifindex eth0 "$N1")
# IPv6 duplicate address detection ends on its own a little after links
# come up; let it finish so that its flags do not change between the two
# snapshots.
no_tentative() { [[ -z $(ip -6 addr show tentative) ]]; }
wait_for 30 no_tentative || fail "IPv6 addresses stay tentative"
# Every link (index, flags, MTU, master, alias), bridge port setting,
# address and route here and in the namespaces, and the nft table without
# its counter values.
kernel_state() {
	local ns
	ip -o link show
	bridge -d link show
	ip -o addr show
	ip route show table all
	ip -6 route show table all
	nft -s list table inet nsagent
	for ns in "$N1" "$N2" "$N3"; do
		echo "== $ns"
		ip -n "$ns" -o link show
		ip -n "$ns" -o addr show
		ip -n "$ns" route show table all
		ip -n "$ns" -6 route show table all
	done
}
kernel_state >"$TMP/state1"
drive apply2 apply --bridge "$BR" --subnet $SUBNET --ns "$N1,$N2,$N3"
kernel_state >"$TMP/state2"
[[ $(out_value apply2 changes) == 0 ]] || fail "second apply reported changes=$(out_value apply2 changes)"
diff -u "$TMP/state1" "$TMP/state2" >"$TMP/state.diff" ||
	fail "the second apply changed kernel state: $(cat "$TMP/state.diff")"
pass "second apply: changes=0 and the kernel state unchanged"
[[ $(ifindex "$BR") == "$br_index" && $(ifindex "nsa-$N1") == "$veth_index" &&
	$(ifindex eth0 "$N1") == "$eth0_index" ]] || fail "adoption changed ifindexes"
pass "adoption kept ifindexes ($br_index, $veth_index, $eth0_index)"

# Hairpin turned off by hand comes back with the next reconcile.
bridge link set dev "nsa-$N2" hairpin off
bridge -d link show dev "nsa-$N2" | grep_q 'hairpin off' || fail "could not turn hairpin off"
drive apply2b apply --bridge "$BR" --subnet $SUBNET --ns "$N1,$N2,$N3"
bridge -d link show dev "nsa-$N2" | grep_q 'hairpin on' || fail "reconcile did not restore hairpin on nsa-$N2"
[[ $(out_value apply2b changes) == 1 ]] || fail "restoring hairpin reported changes=$(out_value apply2b changes)"
pass "hairpin restored by reconcile"

# Dropping a namespace from the topology removes it, and only it.
drive apply3 apply --bridge "$BR" --subnet $SUBNET --ns "$N1,$N2"
[[ ! -e /run/netns/$N3 ]] || fail "$N3 still in /run/netns"
ip link show "nsa-$N3" >/dev/null 2>&1 && fail "host veth of $N3 still there"
[[ -e /run/netns/$N1 && -e /run/netns/$N2 ]] || fail "$N1 or $N2 removed"
ip netns exec "$N1" ping -c1 -W1 172.16.40.3 >/dev/null || fail "ping $N1 -> $N2 after removal of $N3"
pass "undesired namespace removed"

# A namespace name too long for "nsa-NAME" gets a hashed host end.
LONG=verylongnamespace$$
drive apply4 apply --bridge "$BR" --subnet $SUBNET --ns "$N1,$N2,$LONG"
host=$(ip -o link show | grep -o "nsa-[0-9a-f]\{8\}" | head -n 1)
[[ -n $host ]] || fail "no hashed host veth for $LONG: $(ip -o link show)"
ip link show "$host" | grep_q "alias nsagent:ns=$LONG" || fail "$host lacks alias of $LONG"
ip netns exec "$LONG" ping -c1 -W1 172.16.40.2 >/dev/null || fail "ping $LONG -> $N1"
pass "long name uses $host"
[[ $(mac_of "$BR") == "$br_mac" ]] || fail "bridge MAC changed when a namespace came"

# MTU, when asked for, reaches every owned link.
drive apply5 apply --bridge "$BR" --subnet $SUBNET --ns "$N1,$N2" --mtu 1400
ip link show "$BR" | grep_q 'mtu 1400' || fail "bridge mtu not 1400"
ip link show "nsa-$N1" | grep_q 'mtu 1400' || fail "host veth mtu not 1400"
ip -n "$N1" link show eth0 | grep_q 'mtu 1400' || fail "eth0 mtu not 1400"
drive apply6 apply --bridge "$BR" --subnet $SUBNET --ns "$N1,$N2" --mtu 1400
[[ $(out_value apply6 changes) == 0 ]] || fail "mtu apply not idempotent"
pass "mtu"
echo PASS
