#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Graceful restart, 2 hosts:
#  - SIGKILL and restart the agent on host2, then on host1, while NS1@host1
#    pings NS1@host2 every 10 ms: 0 lost of at least 1000, routes unchanged;
#  - an agent stopped (SIGTERM, goodbye(restart)) and not restarted: its
#    route stays on the peer until the restart time, then goes;
#  - `nsagent down` on host2: host1 withdraws host2's route at once, on
#    host2's goodbye(leave): with a restart time of 10 minutes on host1,
#    nothing else could remove it within the test's deadline. (A bound in
#    milliseconds would test the machine's speed, not the agent.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

lab_init peers_restart
tmp=$(mktemp -d)
lab_at_exit 'rm -rf "$tmp"'
restart_s=4
lab up --hosts 2 --name "$NSAGENT_LAB" -- --restart-time "${restart_s}s" >/dev/null ||
	fail "deploy/lab up"
poll 30 mesh_ready 2 || fail "no session between host1 and host2"
before1=$(routes host1)
before2=$(routes host2)
[[ $before1 == "172.16.1.0/24 via 192.168.1.6" ]] || fail "host1 routes: $before1"

for victim in host2 host1; do
	lab exec host1 NS1 -- ping -n -i 0.01 -c 1200 -W 1 172.16.1.2 >"$tmp/ping" 2>&1 &
	pinger=$!
	# kill only once the ping is under way (its first replies counted)
	poll 30 grep -q icmp_seq= "$tmp/ping" || fail "the ping did not start"
	lab agent "$victim" kill || fail "kill the $victim agent"
	lab agent "$victim" start >/dev/null || fail "restart the $victim agent"
	poll 30 mesh_ready 2 || fail "no session after restarting $victim"
	wait "$pinger" || true
	grep -q '1200 packets transmitted, 1200 received' "$tmp/ping" ||
		fail "packets lost while the $victim agent restarted: $(grep transmitted "$tmp/ping")"
	[[ $(routes host1) == "$before1" ]] || fail "host1 routes changed across the $victim restart"
	[[ $(routes host2) == "$before2" ]] || fail "host2 routes changed across the $victim restart"
done

# Stopped and not restarted: kept until the restart time, not before.
start=$SECONDS
lab agent host2 stop || fail "stop the host2 agent"
gone_after() {
	[[ -z $(routes host1) ]]
}
poll $((restart_s + 60)) gone_after || fail "host2's route not removed after the restart time"
elapsed=$((SECONDS - start))
((elapsed >= restart_s - 1)) || fail "host2's route removed after ${elapsed}s, before the restart time (${restart_s}s)"

# `nsagent down` on host2: host1 withdraws at once, though it now keeps a
# lost peer's routes for 10 minutes.
lab agent host1 restart -- --restart-time 10m >/dev/null || fail "restart host1 with --restart-time 10m"
lab agent host2 start >/dev/null || fail "start the host2 agent again"
poll 30 mesh_ready 2 || fail "no session after starting host2 again"
t0=$(date +%s%N)
lab exec host2 -- "$NSAGENT" down >"$tmp/down" 2>&1 || fail "nsagent down on host2: $(cat "$tmp/down")"
poll 60 gone_after || fail "host1 kept host2's route after nsagent down (until its restart time?)"
echo "host1 withdrew host2's route $((($(date +%s%N) - t0) / 1000000)) ms after down started"
echo PASS
