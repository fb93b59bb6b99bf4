#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon's own life cycle on one host, through the real binary: a restart
# adopts everything (same ifindex, zero changes), drift is repaired from
# netlink events, SIGTERM keeps the namespaces' networking, and `nsagent
# down` stops the agent and removes exactly what it made.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lab_init agentlocal

lab up --hosts 1 || fail "deploy/lab up"

ifindex() { lab exec host1 -- cat "/sys/class/net/$1/ifindex"; }
before_br=$(ifindex br0)
before_veth=$(ifindex nsa-NS1)

# Restart: the second start adopts the topology without a single change
# (the agent is ready once its local topology is reconciled).
lab agent host1 restart || fail "agent restart"
changes=$(counter host1 reconcile_changes) || fail "host1's status has no reconcile_changes"
((changes == 0)) || fail "a restart over existing state made $changes kernel change(s)"
[[ $(ifindex br0) == "$before_br" && $(ifindex nsa-NS1) == "$before_veth" ]] ||
	fail "restart re-created interfaces (ifindex changed)"

# Drift: each owned object deleted by hand comes back, through repairs.
repairs=$(counter host1 reconcile_repairs) || fail "host1's status has no reconcile_repairs"
lab exec host1 -- ip link del br0
lab wait --timeout 30 host1 -- sh -c 'ip -4 addr show dev br0 | grep -q 172.16.0.1/24' ||
	fail "deleted bridge not repaired"
lab ping --timeout 30 host1 NS1 172.16.0.3 || fail "NS1 -> NS2 after bridge repair"
lab exec host1 NS2 -- ip route del default
lab wait --timeout 30 host1 NS2 -- sh -c 'ip route | grep -q "default via 172.16.0.1"' ||
	fail "deleted default route in NS2 not repaired"
(($(counter host1 reconcile_repairs) > repairs)) || fail "the objects came back, but not through repairs"

# SIGTERM leaves the kernel state: namespaces keep their networking.
lab agent host1 stop || fail "agent stop"
lab exec host1 NS1 -- ping -c 1 -W 2 172.16.0.3 >/dev/null || fail "NS1 -> NS2 after SIGTERM"
lab exec host1 -- ip netns list | grep_q NS1 || fail "namespaces gone after SIGTERM"

# down with a running agent: the agent leaves (it would otherwise repair)
# and only what nsagent made is removed.
lab agent host1 start || fail "agent start"
lab exec host1 -- ip link add foreign0 type veth peer name foreign1
lab exec host1 -- ip link set foreign0 up
lab exec host1 -- ip link set foreign1 up
lab exec host1 -- ip route add 10.99.0.0/24 dev foreign0
lab exec host1 -- "$NSAGENT" down --config /dev/null || fail "nsagent down"
! lab agent host1 pid >/dev/null 2>&1 || fail "the agent still runs after down"
[[ -z $(lab exec host1 -- ip netns list) ]] || fail "namespaces left after down"
! lab exec host1 -- ip link show br0 >/dev/null 2>&1 || fail "br0 left after down"
[[ -z $(lab exec host1 -- ip route show proto 78) ]] || fail "nsagent routes left after down"
lab exec host1 -- ip link show foreign0 >/dev/null || fail "down removed a foreign link"
lab exec host1 -- ip route show 10.99.0.0/24 | grep_q foreign0 || fail "down removed a foreign route"
echo PASS
