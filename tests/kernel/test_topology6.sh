#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Dual-stack topology: with an IPv6 /64 the bridge gets its ::1/64, each
# namespace's eth0 the IPv6 address with its IPv4 address's host part
# (usable at once: no duplicate address detection) and a default IPv6
# route via the bridge, IPv6 forwarding is on, and NS1, NS2 and the bridge
# reach each other over IPv6. Deleting an IPv6 address or the default IPv6
# route by hand is repaired from netlink events; `down` leaves no IPv6
# address or route of ours anywhere.
source "$(dirname "$0")/kern_lib.sh"

BR=br$$
N1=A$$
N2=B$$
SUBNET=172.16.44.0/24
SUBNET6=fd6e:7361:6765:2c::/64

KERN_DRIVER_DEBUG=1 drive_bg agent apply --bridge "$BR" --subnet $SUBNET --subnet6 $SUBNET6 \
	--cluster6 fd6e:7361:6765::/48 --ns "$N1,$N2"

repairs() {
	local r
	r=$(sed -n 's/^repairs=\([0-9]*\) .*/\1/p' "$TMP/agent.out" | tail -n 1)
	echo "${r:-0}"
}
repairs_above() { (($(repairs) > $1)); }

healthy6() {
	ip -6 addr show dev "$BR" | grep_q 'inet6 fd6e:7361:6765:2c::1/64 scope global' &&
		ip -n "$N1" -6 addr show dev eth0 | grep_q 'inet6 fd6e:7361:6765:2c::2/64 scope global' &&
		ip -n "$N2" -6 addr show dev eth0 | grep_q 'inet6 fd6e:7361:6765:2c::3/64 scope global' &&
		ip -n "$N1" -6 route show default | grep_q 'via fd6e:7361:6765:2c::1 dev eth0 proto 78' &&
		ip -n "$N2" -6 route show default | grep_q 'via fd6e:7361:6765:2c::1 dev eth0 proto 78'
}
healthy6 || fail "IPv6 objects missing: bridge: $(ip -6 addr show dev "$BR"); $N1: $(ip -n "$N1" -6 addr show dev eth0; ip -n "$N1" -6 route)"
# IPv4 as ever, beside it.
ip -4 addr show dev "$BR" | grep_q 'inet 172.16.44.1/24' || fail "bridge IPv4 address wrong"
ip -n "$N1" route show default | grep_q 'via 172.16.44.1 dev eth0' || fail "IPv4 default route wrong in $N1"
# Usable at once: none of our addresses is tentative (no DAD). The bridge's
# own link-local address is the kernel's, and nothing waits for it.
tentative() { ip "$@" -6 addr show scope global tentative; }
[[ -z $(tentative; tentative -n "$N1"; tentative -n "$N2") ]] ||
	fail "tentative IPv6 addresses: $(tentative; tentative -n "$N1"; tentative -n "$N2")"
[[ $(cat /proc/sys/net/ipv6/conf/all/forwarding) == 1 ]] || fail "IPv6 forwarding is not on"
pass "bridge ::1/64, namespace addresses and default routes, IPv6 forwarding"

ip netns exec "$N1" ping -6 -c1 -W2 fd6e:7361:6765:2c::3 >/dev/null || fail "ping -6 $N1 -> $N2"
ip netns exec "$N2" ping -6 -c1 -W2 fd6e:7361:6765:2c::2 >/dev/null || fail "ping -6 $N2 -> $N1"
ip netns exec "$N1" ping -6 -c1 -W2 fd6e:7361:6765:2c::1 >/dev/null || fail "ping -6 $N1 -> bridge"
ping -6 -c1 -W2 fd6e:7361:6765:2c::2 >/dev/null || fail "ping -6 bridge -> $N1"
ip netns exec "$N1" ping -c1 -W2 172.16.44.3 >/dev/null || fail "ping $N1 -> $N2 (IPv4)"
pass "IPv6 pings between the namespaces and the bridge"

# drift DESCRIPTION CMD...: breaks something, then waits for its repair.
drift() {
	local what=$1 before t0 t1
	shift
	before=$(repairs)
	t0=$(now_ms)
	"$@" || fail "could not break: $what"
	wait_for 30 healthy6 || fail "$what: not repaired (waited 30 s)"
	t1=$(now_ms)
	wait_for 30 repairs_above "$before" || fail "$what: repaired but kern_stats.repairs did not move"
	wait_for 30 ip netns exec "$N1" ping -6 -c1 -W1 fd6e:7361:6765:2c::3 ||
		fail "$what: $N1 cannot reach $N2 over IPv6 after repair"
	pass "$what repaired in $((t1 - t0)) ms (repairs=$(repairs))"
}
drift "bridge IPv6 address removed" ip addr del fd6e:7361:6765:2c::1/64 dev "$BR"
drift "eth0 IPv6 address removed in $N1" ip -n "$N1" addr del fd6e:7361:6765:2c::2/64 dev eth0
drift "default IPv6 route removed in $N1" ip -n "$N1" -6 route del default
drift "default IPv6 route changed in $N2" ip -n "$N2" -6 route replace default via fd6e:7361:6765:2c::9 dev eth0 proto 78
grep_q "repaired: add address fd6e:7361:6765:2c::1/64 to $BR" "$TMP/agent.err" ||
	fail "the bridge's IPv6 address repair was not logged"
pass "IPv6 drift repaired"

# A second apply by a new process changes nothing.
reap "${KERN_PIDS[@]}"
KERN_PIDS=()
drive again apply --bridge "$BR" --subnet $SUBNET --subnet6 $SUBNET6 --cluster6 fd6e:7361:6765::/48 --ns "$N1,$N2"
[[ $(out_value again changes) == 0 ]] || fail "second dual-stack apply reported changes=$(out_value again changes)"
pass "second dual-stack apply: changes=0"

drive d1 down --bridge "$BR"
no_ipv6_of_ours() {
	[[ -z $(ip -6 addr show scope global) && -z $(ip -6 route show proto 78) ]] &&
		! ip -6 route show | grep_q fd6e:
}
wait_for 30 no_ipv6_of_ours || fail "IPv6 objects left after down: $(ip -6 addr show scope global; ip -6 route show)"
[[ ! -e /run/netns/$N1 && ! -e /run/netns/$N2 ]] || fail "namespaces left after down"
pass "down leaves no IPv6 address or route"
echo PASS
