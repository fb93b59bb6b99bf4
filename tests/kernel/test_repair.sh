#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Drift repair: with the driver running its event loop, each owned object
# deleted or changed by hand comes back, driven by netlink events (the
# layer has no periodic scan; each repair's time is reported, not judged:
# a bound in milliseconds would test the machine's load); unowned objects
# are left alone.
source "$(dirname "$0")/kern_lib.sh"

BR=br$$
N1=A$$
N2=B$$
SUBNET=172.16.41.0/24
# An underlay for the owned route: a veth whose far end sits in a namespace.
ip netns add "U$$"
ip link add "up$$" type veth peer name ul0 netns "U$$"
ip addr add 10.99.41.1/24 dev "up$$"
ip link set "up$$" up
ip -n "U$$" link set ul0 up

KERN_DRIVER_DEBUG=1 drive_bg agent apply --bridge "$BR" --subnet $SUBNET --ns "$N1,$N2" --route 172.16.99.0/24=10.99.41.2
ip route show proto 78 | grep_q '172.16.99.0/24 via 10.99.41.2' || fail "owned route missing"

repairs() { repairs_of agent; }

healthy() {
	ip link show "$BR" 2>/dev/null | grep_q ',UP' &&
		ip -4 addr show dev "$BR" | grep_q 'inet 172.16.41.1/24' &&
		ip link show "nsa-$N1" 2>/dev/null | grep_q "master $BR" &&
		ip link show "nsa-$N1" | grep_q ',UP' &&
		bridge -d link show dev "nsa-$N1" | grep_q 'hairpin on' &&
		ip -n "$N1" link show eth0 2>/dev/null | grep_q ',UP' &&
		ip -n "$N1" link show lo | grep_q ',UP' &&
		ip -n "$N1" -4 addr show dev eth0 | grep_q 'inet 172.16.41.2/24' &&
		ip -n "$N1" route show default | grep_q 'via 172.16.41.1 dev eth0' &&
		ip route show proto 78 | grep_q '172.16.99.0/24 via 10.99.41.2'
}

reaches() { ip netns exec "$N1" ping -c1 -W1 172.16.41.3; }
# drift DESCRIPTION CMD...: breaks something, then waits for repair.
drift() { drift_repaired agent healthy reaches "$@"; }

healthy || fail "not healthy after apply"
drift "bridge deleted" ip link del "$BR"
drift "host veth deleted" ip link del "nsa-$N1"
drift "host veth down" ip link set "nsa-$N1" down
drift "host veth off the bridge" ip link set "nsa-$N1" nomaster
drift "bridge address removed" ip addr del 172.16.41.1/24 dev "$BR"
drift "bridge down" ip link set "$BR" down
drift "eth0 address removed in $N1" ip -n "$N1" addr del 172.16.41.2/24 dev eth0
drift "eth0 down in $N1" ip -n "$N1" link set eth0 down
drift "lo down in $N1" ip -n "$N1" link set lo down
drift "default route removed in $N1" ip -n "$N1" route del default
drift "owned route deleted" ip route del 172.16.99.0/24
drift "owned route changed" ip route replace 172.16.99.0/24 via 10.99.41.3 proto 78

grep -q 'repaired: ' "$TMP/agent.err" || fail "no repair was logged"
pass "repairs logged: $(grep -c 'repaired: ' "$TMP/agent.err") lines"

# Not ours: a foreign route and a foreign link stay as they are.
ip route add 172.16.98.0/24 via 10.99.41.2
ip link add "fx$$" type bridge
ip route del 172.16.98.0/24
ip link del "fx$$"
# Prove the agent had the chance to react: a real drift after these is
# repaired, and the repair count moved by that one repair only.
drift "owned route deleted again" ip route del 172.16.99.0/24
ip route show | grep_q 172.16.98.0 && fail "agent re-created a foreign route"
ip link show "fx$$" >/dev/null 2>&1 && fail "agent re-created a foreign link"
pass "foreign objects left alone"

# A bridge announces its ports' bridging state (STP state, cost) as link
# messages of family AF_BRIDGE, without the link's alias: not drift. Each
# drift is logged as a "kernel event" in the order the kernel sent them,
# so the route deleted after the change bounds the window.
seen=$(grep -c "kernel event:" "$TMP/agent.err" || true)
bridge link set dev "nsa-$N1" cost 7 || fail "cannot set the port cost"
drift "owned route deleted a third time" ip route del 172.16.99.0/24
late=$(grep "kernel event:" "$TMP/agent.err" | tail -n +$((seen + 1)))
grep_q "route 172.16.99.0/24 deleted" <<<"$late" || fail "the route deletion was not seen as drift: $late"
if grep_q "nsa-$N1" <<<"$late"; then
	fail "a bridge port notification was taken for drift: $late"
fi
pass "bridge port notifications are not drift"
echo PASS
