#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# CNI attachments in the kernel layer: an interface in a network namespace
# someone else made (a named one, as `ip netns add` and CNI runtimes make
# them, and a process's /proc/PID/ns/net). The layer builds the veth pair
# with the address, the default route via the bridge and our alias; a
# second apply adopts it unchanged; drift is repaired; a namespace that
# goes away is left alone (no error, no repair loop); dropping an
# attachment or `down` removes the pair and never the runtime's namespace;
# an interface named like ours that we did not make is refused.
source "$(dirname "$0")/kern_lib.sh"

BR=br$$
N1=N$$
RT=cni-$$
SUBNET=172.16.45.0/24
ip netns add "$RT"
unshare -n sleep 600 &
SLEEPER=$!
KERN_PIDS+=("$SLEEPER")
wait_for 30 test -e "/proc/$SLEEPER/ns/net"
wait_for 30 sh -c "[ \"\$(readlink /proc/$SLEEPER/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]" ||
	fail "the sleeper has no namespace of its own"

A1="ctr1/eth0=/run/netns/$RT"
A2="ctr2/net1=/proc/$SLEEPER/ns/net"
attached() { # ID field: the driver's `attached` line's field for ID
	sed -n "s/^attached $1\/[^ ]* .*$2=\([^ ]*\).*/\1/p" "$TMP/$3.out" | tail -n 1
}

drive a1 apply --bridge "$BR" --subnet $SUBNET --ns "$N1" --attach "$A1" --attach "$A2"
(($(out_value a1 changes) > 0)) || fail "first apply made no changes"
ip -n "$RT" -4 addr show dev eth0 | grep_q 'inet 172.16.45.3/24' || fail "no address in $RT"
ip -n "$RT" route show default | grep_q 'via 172.16.45.1 dev eth0' || fail "no default route in $RT"
ip -n "$RT" -d link show eth0 | grep_q 'alias nsagent:cni=ctr1/eth0' || fail "eth0 in $RT lacks our alias"
nsenter --net="/proc/$SLEEPER/ns/net" ip -4 addr show dev net1 | grep_q 'inet 172.16.45.4/24' ||
	fail "no net1 with its address in the sleeper's namespace"
H1=$(attached ctr1 host a1)
[[ $H1 == nsc* ]] || fail "host end of ctr1 is '$H1'"
ip link show "$H1" | grep_q "master $BR" || fail "host end $H1 is not on $BR"
mac=$(attached ctr1 mac a1)
[[ $(ip -n "$RT" -o link show eth0) == *"link/ether $mac "* ]] || fail "the reported MAC $mac is not eth0's"
ip netns exec "$RT" ping -c1 -W2 172.16.45.2 >/dev/null || fail "ping from the attachment to $N1"
nsenter --net="/proc/$SLEEPER/ns/net" ping -c1 -W2 172.16.45.3 >/dev/null ||
	fail "ping between the two attachments"
pass "built in a named namespace and in /proc/PID/ns/net; traffic flows"

drive a2 apply --bridge "$BR" --subnet $SUBNET --ns "$N1" --attach "$A1" --attach "$A2"
[[ $(out_value a2 changes) == 0 ]] || fail "second apply made $(out_value a2 changes) changes"
[[ $(attached ctr1 host a2) == "$H1" ]] || fail "the host end's name changed"
pass "second apply adopts it (0 changes)"

drive_bg agent apply --bridge "$BR" --subnet $SUBNET --ns "$N1" --attach "$A1" --attach "$A2"
repairs() {
	local r
	r=$(sed -n 's/^repairs=\([0-9]*\) .*/\1/p' "$TMP/agent.out" | tail -n 1)
	echo "${r:-0}"
}
repairs_above() { (($(repairs) > $1)); }
whole() {
	ip -n "$RT" -4 addr show dev eth0 | grep_q 'inet 172.16.45.3/24' &&
		ip -n "$RT" route show default | grep_q 'via 172.16.45.1 dev eth0' &&
		ip link show "$H1" 2>/dev/null | grep_q "master $BR"
}
r=$(repairs)
ip link del "$H1"
wait_for 30 repairs_above "$r" || fail "deleted host end not repaired"
wait_for 30 whole || fail "attachment not whole after its pair was deleted"
r=$(repairs)
ip -n "$RT" addr flush dev eth0
wait_for 30 repairs_above "$r" || fail "flushed address not repaired"
wait_for 30 whole || fail "attachment not whole after its address was flushed"
pass "drift repaired (pair deleted, address flushed)"

# The runtime removes a namespace without a DEL: nothing to repair, and
# the layer stays quiet (no error, the repair count settles).
kill "$SLEEPER"
wait "$SLEEPER" 2>/dev/null || true
r=$(repairs)
ip link del "$H1"
wait_for 30 repairs_above "$r" || fail "ctr1's pair not repaired while ctr2's namespace is gone"
wait_for 30 whole || fail "ctr1 not whole"
kill -0 "${KERN_PIDS[-1]}" || fail "the driver died"
! grep -i "fail" "$TMP/agent.err" | grep_q "ctr2" || fail "failures about the gone namespace: $(grep -i fail "$TMP/agent.err")"
grep_q "no longer exists" "$TMP/agent.err" || fail "the gone namespace was not noticed"
pass "a gone namespace is left alone"
kill "${KERN_PIDS[-1]}"

# Dropping the attachment removes the pair, never the runtime's namespace.
drive a3 apply --bridge "$BR" --subnet $SUBNET --ns "$N1"
! ip link show "$H1" >/dev/null 2>&1 || fail "host end $H1 still there"
! ip -n "$RT" link show eth0 >/dev/null 2>&1 || fail "eth0 still in $RT"
[[ -e /run/netns/$RT ]] || fail "the runtime's namespace $RT was removed"
pass "dropped: the pair goes, the runtime's namespace stays"

# An eth0 in the runtime's namespace that is not ours is refused, by name.
ip -n "$RT" link add eth0 type veth peer name foreign0
if "$DRIVER" apply --bridge "$BR" --subnet $SUBNET --ns "$N1" --attach "$A1" >"$TMP/a4.out" 2>"$TMP/a4.err"; then
	fail "attached over a foreign eth0"
fi
grep_q "did not create" "$TMP/a4.err" || fail "the refusal does not say why: $(cat "$TMP/a4.err")"
ip -n "$RT" -o link show foreign0 | grep_q 'eth0' || fail "the foreign eth0 was touched"
ip -n "$RT" link del eth0
pass "a foreign $RT eth0 is refused and left alone"

drive a5 apply --bridge "$BR" --subnet $SUBNET --ns "$N1" --attach "$A1"
H1=$(attached ctr1 host a5)
drive d down --bridge "$BR"
! ip link show "$H1" >/dev/null 2>&1 || fail "down left host end $H1"
[[ -e /run/netns/$RT ]] || fail "down removed the runtime's namespace $RT"
[[ ! -e /run/netns/$N1 ]] || fail "down left our namespace $N1"
pass "down removes the pair and our namespace, not the runtime's"
ip netns del "$RT"
echo PASS
