#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One namespace that cannot be made does not keep the others down: with
# /run/netns/X a directory (not a namespace, and not removable as a stale
# file), an apply of P,X,Q,R fails naming X, and P, Q and R, made by the
# namespace-making thread around it, are complete and carry traffic. Once
# the obstacle is gone, the next apply makes X too.
source "$(dirname "$0")/kern_lib.sh"

BR=br$$
P=P$$
X=X$$
Q=Q$$
R=R$$
SUBNET=172.16.44.0/24

mkdir -p "/run/netns/$X"
if "$DRIVER" apply --bridge "$BR" --subnet $SUBNET --ns "$P,$X,$Q,$R" >"$TMP/a1.out" 2>"$TMP/a1.err"; then
	fail "apply succeeded although $X cannot be made"
fi
grep "^apply:" "$TMP/a1.err" | grep_q "$X" || fail "the error does not name $X: $(cat "$TMP/a1.err")"
for n in "$P" "$Q" "$R"; do
	[[ -e /run/netns/$n ]] || fail "$n not made"
	ip -n "$n" link show lo | grep_q ',UP' || fail "lo down in $n"
	ip -n "$n" route show default | grep_q 'via 172.16.44.1 dev eth0' || fail "$n lacks its default route"
done
ip netns exec "$P" ping -c1 -W1 172.16.44.5 >/dev/null || fail "ping $P -> $R"
pass "$X refused ($(grep "^apply:" "$TMP/a1.err")); the others complete"

rmdir "/run/netns/$X"
drive a2 apply --bridge "$BR" --subnet $SUBNET --ns "$P,$X,$Q,$R"
ip -n "$X" -4 addr show dev eth0 | grep_q 'inet 172.16.44.3/24' || fail "$X not made once possible"
ip netns exec "$X" ping -c1 -W1 172.16.44.2 >/dev/null || fail "ping $X -> $P"
pass "$X made on the next apply"
drive d down --bridge "$BR"
echo PASS
