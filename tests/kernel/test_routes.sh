#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Owned routes: kern_set_routes adds, replaces and deletes routes of protocol
# 78 in the main table and nothing else; kern_get_routes lists them;
# refusals carry the object and the kernel's words; kern_route_source
# finds the source address the kernel would use.
source "$(dirname "$0")/kern_lib.sh"

ip netns add "U$$"
ip link add "up$$" type veth peer name ul0 netns "U$$"
ip addr add 10.99.42.1/24 dev "up$$"
ip link set "up$$" up
ip -n "U$$" addr add 10.99.42.2/24 dev ul0
ip -n "U$$" link set ul0 up

# Foreign routes: one elsewhere, one in another table, one with our protocol
# in another table.
ip route add 172.16.50.0/24 via 10.99.42.2 proto static
ip route add 172.16.51.0/24 via 10.99.42.2 table 100 proto 78
ip route add 172.16.52.0/24 via 10.99.42.2 table 100

drive r1 routes 172.16.60.0/24=10.99.42.2 172.16.61.0/24=10.99.42.3
[[ $(out_value r1 route-changes) == 2 ]] || fail "expected 2 route changes, got $(out_value r1 route-changes)"
ip route show proto 78 | grep_q '172.16.60.0/24 via 10.99.42.2' || fail "route 60 missing"
ip route show proto 78 | grep_q '172.16.61.0/24 via 10.99.42.3' || fail "route 61 missing"
pass "routes added"

drive r2 routes 172.16.60.0/24=10.99.42.2 172.16.61.0/24=10.99.42.3
[[ $(out_value r2 route-changes) == 0 ]] || fail "same routes again made changes"
pass "idempotent"

drive g1 get-routes
sort "$TMP/g1.out" | diff - <(printf '172.16.60.0/24=10.99.42.2\n172.16.61.0/24=10.99.42.3\n') ||
	fail "get-routes listed: $(cat "$TMP/g1.out")"
pass "get-routes lists exactly the owned routes"

drive r3 routes 172.16.60.0/24=10.99.42.4 172.16.62.0/24=10.99.42.2
[[ $(out_value r3 route-changes) == 3 ]] || fail "expected 3 changes (replace, add, delete), got $(out_value r3 route-changes)"
ip route show proto 78 | grep_q '172.16.60.0/24 via 10.99.42.4' || fail "route 60 not replaced"
ip route show proto 78 | grep_q '172.16.62.0/24 via 10.99.42.2' || fail "route 62 missing"
ip route show | grep_q '172.16.61.0' && fail "route 61 not deleted"
pass "replace, add, delete"

drive r4 routes
ip route show proto 78 | grep_q . && fail "owned routes left: $(ip route show proto 78)"
ip route show 172.16.50.0/24 proto static | grep_q 'via 10.99.42.2 ' || fail "foreign route 50 touched"
ip route show table 100 | grep_q '172.16.51.0/24' || fail "table-100 proto-78 route touched"
ip route show table 100 | grep_q '172.16.52.0/24' || fail "table-100 route touched"
pass "foreign routes untouched"

# An IPv4 route over an IPv6 underlay: via inet6 (RTA_VIA) the peer's node
# address, read back with it, the same set again changes nothing, and an
# IPv4 next hop replaces it.
ip addr add fd00:99:42::1/64 dev "up$$" nodad
ip -n "U$$" addr add fd00:99:42::2/64 dev ul0 nodad
drive v1 routes 172.16.63.0/24=fd00:99:42::2
ip route show proto 78 | grep_q "^172.16.63.0/24 via inet6 fd00:99:42::2 dev up$$ " ||
	fail "no via-inet6 route: $(ip route show proto 78)"
drive v2 get-routes
[[ $(cat "$TMP/v2.out") == "172.16.63.0/24=fd00:99:42::2" ]] || fail "get-routes listed: $(cat "$TMP/v2.out")"
drive v3 routes 172.16.63.0/24=fd00:99:42::2
[[ $(out_value v3 route-changes) == 0 ]] || fail "the same via-inet6 route again made changes"
drive v4 routes 172.16.63.0/24=10.99.42.2
ip route show proto 78 | grep_q "^172.16.63.0/24 via 10.99.42.2 " || fail "not replaced: $(ip route show proto 78)"
drive v5 routes
pass "IPv4 route via inet6: added, read back, idempotent, replaced"

# A key another owner holds is reported, not taken over.
if "$DRIVER" routes 172.16.50.0/24=10.99.42.3 >"$TMP/r5.out" 2>"$TMP/r5.err"; then
	fail "taking over a foreign route succeeded"
fi
grep -q 'cannot add route 172.16.50.0/24 via 10.99.42.3: File exists' "$TMP/r5.err" || fail "error was: $(cat "$TMP/r5.err")"
ip route show 172.16.50.0/24 proto static | grep_q 'via 10.99.42.2 ' || fail "foreign route 50 changed"
pass "conflict reported: $(cat "$TMP/r5.err")"

# The kernel's own words for an unreachable gateway.
if "$DRIVER" routes 172.16.70.0/24=10.250.0.1 >"$TMP/r6.out" 2>"$TMP/r6.err"; then
	fail "route via an unreachable gateway succeeded"
fi
grep -q 'cannot add route 172.16.70.0/24 via 10.250.0.1: Network is unreachable' "$TMP/r6.err" ||
	fail "error was: $(cat "$TMP/r6.err")"
pass "error: $(cat "$TMP/r6.err")"

drive s1 source 10.99.42.2
[[ $(cat "$TMP/s1.out") == 10.99.42.1 ]] || fail "source for 10.99.42.2 is $(cat "$TMP/s1.out")"
if "$DRIVER" source 10.250.0.1 >"$TMP/s2.out" 2>"$TMP/s2.err"; then
	fail "source lookup without a route succeeded"
fi
grep -q 'cannot find a route to 10.250.0.1: Network is unreachable' "$TMP/s2.err" || fail "error was: $(cat "$TMP/s2.err")"
pass "route source"
echo PASS
