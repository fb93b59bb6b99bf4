#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Owned IPv6 routes between nodes: kern_set_routes adds, replaces and
# deletes `<their /64> via <their fe80::> dev <underlay>` routes of protocol
# 78 in the main table (Linux takes no IPv4 next hop for an IPv6 route) and
# nothing else; kern_get_routes lists them for adoption; a route deleted by
# hand comes back (drift seen in IPv6 route events); `down` removes them.
source "$(dirname "$0")/kern_lib.sh"

ip netns add "U$$"
ip link add "up$$" type veth peer name ul0 netns "U$$"
ip addr add 10.99.43.1/24 dev "up$$"
ip link set "up$$" up
ip -n "U$$" link set ul0 up

# A foreign IPv6 route, which must stay.
ip -6 route add fd6e:7361:6765:50::/64 via fe80::50 dev "up$$" proto static

R1=fd6e:7361:6765:60::/64=fe80::2%up$$
R2=fd6e:7361:6765:61::/64=fe80::3%up$$
drive r1 routes "$R1" "$R2" 172.16.60.0/24=10.99.43.2
[[ $(out_value r1 route-changes) == 3 ]] || fail "expected 3 route changes, got $(out_value r1 route-changes)"
ip -6 route show proto 78 | grep_q "fd6e:7361:6765:60::/64 via fe80::2 dev up$$" || fail "route 60 missing: $(ip -6 route show proto 78)"
ip -6 route show proto 78 | grep_q "fd6e:7361:6765:61::/64 via fe80::3 dev up$$" || fail "route 61 missing"
ip -4 route show proto 78 | grep_q '172.16.60.0/24 via 10.99.43.2' || fail "IPv4 route missing"
pass "IPv6 routes added via link-local next hops, beside an IPv4 one"

drive r2 routes "$R1" "$R2" 172.16.60.0/24=10.99.43.2
[[ $(out_value r2 route-changes) == 0 ]] || fail "same routes again made changes"
pass "idempotent"

drive g1 get-routes
sort "$TMP/g1.out" | diff - <(printf '172.16.60.0/24=10.99.43.2\n%s\n%s\n' "$R1" "$R2" | sort) ||
	fail "get-routes listed: $(cat "$TMP/g1.out")"
pass "get-routes lists exactly the owned routes, both families"

drive r3 routes "fd6e:7361:6765:60::/64=fe80::4%up$$" "fd6e:7361:6765:62::/64=fe80::2%up$$"
[[ $(out_value r3 route-changes) == 4 ]] || fail "expected 4 changes (replace, add, 2 deletes), got $(out_value r3 route-changes)"
ip -6 route show proto 78 | grep_q 'fd6e:7361:6765:60::/64 via fe80::4' || fail "route 60 not replaced"
ip -6 route show proto 78 | grep_q 'fd6e:7361:6765:62::/64 via fe80::2' || fail "route 62 missing"
ip -6 route show | grep_q 'fd6e:7361:6765:61::' && fail "route 61 not deleted"
ip -6 route show fd6e:7361:6765:50::/64 | grep_q 'via fe80::50' || fail "foreign route touched"
pass "replace, add, delete; a foreign route untouched"

# Drift: delete one by hand while the layer watches; it comes back.
drive_bg agent routes "$R1"
ip -6 route show proto 78 | grep_q 'fd6e:7361:6765:60::/64 via fe80::2' || fail "route 60 not back to fe80::2"
ip -6 route show proto 78 | grep_q 'fd6e:7361:6765:62::' && fail "route 62 not deleted"
ip -6 route del fd6e:7361:6765:60::/64
wait_for 30 sh -c "ip -6 route show proto 78 | grep -q 'fd6e:7361:6765:60::/64 via fe80::2'" ||
	fail "deleted IPv6 route not repaired"
pass "deleted IPv6 route repaired"
ip -6 route replace fd6e:7361:6765:60::/64 via fe80::9 dev "up$$" proto 78
wait_for 30 sh -c "ip -6 route show proto 78 | grep -q 'fd6e:7361:6765:60::/64 via fe80::2'" ||
	fail "changed IPv6 route not repaired"
pass "changed IPv6 route repaired"
reap "${KERN_PIDS[@]}"
KERN_PIDS=()

# A bad route is refused with what is wrong. (A global next hop is fine:
# a peer's node address on an IPv6 underlay, tests/lab/test_underlay_ipv6.sh.)
if "$DRIVER" routes "fd6e:7361:6765:70::/64=::%up$$" >"$TMP/r5.out" 2>"$TMP/r5.err"; then
	fail "a route without a next hop succeeded"
fi
grep -q 'invalid route fd6e:7361:6765:70::/64: .*no gateway' "$TMP/r5.err" || fail "error was: $(cat "$TMP/r5.err")"
pass "refused: $(cat "$TMP/r5.err")"

drive d1 down
ip -6 route show proto 78 | grep_q . && fail "owned IPv6 routes left after down: $(ip -6 route show proto 78)"
ip -6 route show fd6e:7361:6765:50::/64 | grep_q 'via fe80::50' || fail "down removed a foreign route"
pass "down removes owned IPv6 routes only"
echo PASS
