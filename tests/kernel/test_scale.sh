#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# 256 namespaces come up, carry traffic, and a second apply over them sends
# nothing. Times are printed, not asserted.
source "$(dirname "$0")/kern_lib.sh"

BR=br$$
N=256
names=$(seq -f "S%g" 0 $((N - 1)) | paste -sd,)

drive a1 apply --bridge "$BR" --subnet 172.16.44.0/23 --ns "$names"
echo "bring-up of $N namespaces: $(out_value a1 seconds) s, $(out_value a1 changes) changes"
count=$(find /run/netns -mindepth 1 -maxdepth 1 | wc -l)
[[ $count == "$N" ]] || fail "expected $N namespaces, found $count"
[[ $(ip -o link show master "$BR" | wc -l) == "$N" ]] || fail "expected $N ports on $BR"
last=$(ip -n "S$((N - 1))" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
[[ $last == 172.16.45.1 ]] || fail "last namespace has address $last"
ip netns exec S0 ping -c1 -W1 "$last" >/dev/null || fail "S0 cannot reach S$((N - 1))"
pass "$N namespaces up"

drive a2 apply --bridge "$BR" --subnet 172.16.44.0/23 --ns "$names"
echo "re-apply over $N namespaces: $(out_value a2 seconds) s"
[[ $(out_value a2 changes) == 0 ]] || fail "re-apply made $(out_value a2 changes) changes"
pass "re-apply changes nothing"

t0=$(now_ms)
drive d1 down --bridge "$BR"
echo "down: $(($(now_ms) - t0)) ms"
[[ -z $(ls /run/netns) ]] || fail "namespaces remain after down"
echo PASS
