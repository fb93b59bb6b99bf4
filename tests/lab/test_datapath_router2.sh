#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Router topology, 2 hosts: the two agents peer across the router over
# VXLAN, traffic keeps its source, and a 4 MiB transfer crosses. An agent
# restart adopts the vxlan routes with their neighbour and FDB entries
# (zero kernel changes, no traffic lost), and a stopped agent's peer keeps
# the path while it is away.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
datapath_init dp_router2

lab up --topology router --hosts 2 >/dev/null || fail "deploy/lab up --topology router --hosts 2"
poll 30 mesh_ready 2 || fail "no session across the router"
poll 30 peer_is host1 192.168.2.6 mode vxlan ||
	fail "host1's status shows mode '$(peer_field host1 192.168.2.6 mode)' for host2, want vxlan"
poll 30 peer_is host2 192.168.1.5 mode vxlan ||
	fail "host2's status shows mode '$(peer_field host2 192.168.1.5 mode)' for host1, want vxlan"
# The reason is the log's to say (it is not in the model).
poll 30 logs host1 "peer 192.168.2.6:7470 ([0-9a-f]*): mode vxlan (auto: behind gateway 192.168.1.1" ||
	fail "host1 does not log why host2 is over vxlan"
lab ping host2 NS2 172.16.0.3 || fail "NS2@host2 -> NS2@host1"
src=$(seen_as 172.16.0.2 host1 NS1 -- host2 NS2)
[[ $src == 172.16.1.3 ]] || fail "NS1@host1 sees NS2@host2 as '$src' (no NAT over vxlan)"
full_size host2 NS1 172.16.0.2 || fail "full-size DF ping over vxlan"
out=$(bulk host2 NS1 host1 NS1 172.16.0.2) || fail "bulk transfer over vxlan: $out"

# A restart adopts everything: the same routes and entries, no changes.
fdb_before=$(lab exec host1 -- bridge fdb show dev nsa-vxlan)
ifindex_before=$(lab exec host1 -- cat /sys/class/net/nsa-vxlan/ifindex)
lab exec host1 NS1 -- ping -n -i 0.05 -w 8 172.16.1.2 >"$DP_TMP/ping" 2>&1 &
ping_pid=$!
DP_PIDS+=("$ping_pid")
lab agent host1 restart >/dev/null || fail "agent restart"
# Two: host2's IPv4 subnet and its IPv6 /64, both over vxlan.
poll 30 logs host1 'adopting 2 existing route(s) as stale' ||
	fail "the restarted agent did not adopt the IPv4 and IPv6 vxlan routes"
poll 20 mesh_ready 2 || fail "no session after the restart"
# Adopted, not re-made: no kernel change since the restart, the session's
# routes and entries included (the counter is the agent's, since its start).
changes=$(counter host1 reconcile_changes) || fail "host1's status has no reconcile_changes"
((changes == 0)) || fail "restart over a vxlan setup made $changes kernel change(s)"
[[ $(lab exec host1 -- cat /sys/class/net/nsa-vxlan/ifindex) == "$ifindex_before" ]] ||
	fail "the restart re-created nsa-vxlan"
[[ $(lab exec host1 -- bridge fdb show dev nsa-vxlan) == "$fdb_before" ]] ||
	fail "the FDB changed across the restart"
wait "$ping_pid" || true
loss=$(grep -o '[0-9.]*% packet loss' "$DP_TMP/ping" || echo "no ping summary")
[[ $loss == "0% packet loss" ]] || fail "traffic over vxlan lost during the agent restart: $loss"
echo PASS
