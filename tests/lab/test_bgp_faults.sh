#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --routing bgp under faults (issue 17): three nodes (host1..3), each with
# two BGP sessions, to two route reflectors (host4, host5: plain BIRD with
# deploy/bird/rr.conf, no nsagent), on one switch.
#   - An nsagent restart (SIGTERM, start) on host2 while NS1@host1 pings
#     NS1@host2 every 10 ms: nothing lost, no route changed anywhere. (The
#     agent starts with its export held until BIRD has shown the cluster's
#     table; rewriting the include that way would withdraw the node's
#     subnet from the whole cluster for the seconds that takes.)
#   - One reflector killed (SIGKILL) while NS1@host1 pings NS1@host3:
#     nothing lost, every route still installed, every pair still reaches;
#     the reflector returns and every node has its two sessions again.
#   - A node dies (host3: its switch port down, then its agent and BIRD
#     killed, so that no TCP FIN nor BGP notification gets out, as when a
#     machine loses power): the reflectors' BFD finds it down within the
#     rendered BFD timers and the other kernels lose its route within a
#     deadline derived from them; the time measured is printed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

lab_init
tmp=$(mktemp -d)
lab_at_exit 'rm -rf "$tmp"'
lab up --hosts 5 --no-agent >/dev/null || fail "deploy/lab up"
RR1=192.168.1.8 # host4
RR2=192.168.1.9 # host5
NODES=(1 2 3)

bgp_reflector host4 rr.conf
bgp_reflector host5 rr.conf
start_bird host4
start_bird host5
bgp_nodes_start "${NODES[@]}" -- --bgp-peer "$RR1" --bgp-peer "$RR2"

poll 60 bgp_ready 2 "${NODES[@]}" || {
	for i in "${NODES[@]}"; do echo "host$i: $(bird_routes "host$i" | tr '\n' ';') $(bgp_established "host$i") sessions" >&2; done
	fail "the cluster did not converge over two reflectors"
}
reaches_all "${NODES[@]}" || fail "not every pair reaches"
for i in "${NODES[@]}"; do
	status_json "host$i" | jq -e '(.bgp.sessions | length) == 2 and
		(.bgp.sessions | all(.established)) and .bgp.export == "on" and .healthy' >/dev/null ||
		fail "host$i: status does not show two established sessions: $(status_json "host$i")"
done
before=()
for i in "${NODES[@]}"; do before[i]=$(bird_routes "host$i"); done

# routes_unchanged WHY: every node's routes are those of before.
routes_unchanged() {
	local i
	for i in "${NODES[@]}"; do
		[[ $(bird_routes "host$i") == "${before[i]}" ]] ||
			fail "host$i: routes changed $1: $(bird_routes "host$i" | tr '\n' ';')"
	done
}

# stream FROM DST: NS1@FROM pings DST every 10 ms, 1200 times, into
# $tmp/ping; returns once the first replies are in.
stream() {
	lab exec "host$1" NS1 -- ping -n -i 0.01 -c 1200 -W 1 "$2" >"$tmp/ping" 2>&1 &
	pinger=$!
	poll 30 grep -q icmp_seq= "$tmp/ping" || fail "the ping stream did not start"
}
stream_lost_nothing() {
	wait "$pinger" || true
	grep_q '1200 packets transmitted, 1200 received' "$tmp/ping" ||
		fail "packets lost $1: $(grep transmitted "$tmp/ping")"
}

# 1. nsagent restart on host2: BIRD and the kernel keep the routes, and the
# agent does not withdraw its subnet on the way back.
stream 1 172.16.1.2
lab agent host2 restart >/dev/null || fail "restart the host2 agent"
export_on() { status_json host2 | jq -e '.healthy and .bgp.export == "on"' >/dev/null; }
poll 30 export_on || fail "host2: not announcing again after its restart: $(status_json host2)"
stream_lost_nothing "while the host2 agent restarted"
routes_unchanged "across the host2 agent restart"
# Its include announces host2's subnet again: BIRD's export to the reflectors.
bird_on host2 show route export nsagent_peer1 | grep_q '^172\.16\.1\.0/24 ' ||
	fail "host2: BIRD does not export its subnet after the agent restart"

# 2. A reflector dies: the other one carries every route.
stream 1 172.16.2.2
kill_bird host4
one_left() {
	local i
	for i in "${NODES[@]}"; do [[ $(bgp_established "host$i") == 1 ]] || return 1; done
}
poll 30 one_left || fail "the nodes still hold sessions to the killed reflector"
stream_lost_nothing "while a reflector died"
routes_unchanged "after a reflector died"
reaches_all "${NODES[@]}" || fail "not every pair reaches with one reflector"
# It returns; every node has both sessions again, and the same routes.
start_bird host4
poll 60 bgp_ready 2 "${NODES[@]}" || fail "the nodes did not take the reflector back"
routes_unchanged "after the reflector returned"

# 3. host3 dies. The deadline: BFD's detection time, plus 1.5 s for the
# reflectors' withdrawal to cross a BGP session and reach the kernels
# (generous on a loaded machine; BGP's own hold time, the fallback
# without BFD, is 240 s).
detect_ms=$((BGP_BFD_INTERVAL_MS * BGP_BFD_MULTIPLIER))
deadline_ms=$((detect_ms + 1500))
# gone_at HOST: a watcher on HOST writes the time (ns) at which host3's
# route left its kernel into $tmp/gone.HOST (started before the death, so
# the time measured is the kernel's, not this script's polling).
gone_at() {
	lab exec "$1" -- sh -c 'while ip -4 route show proto bird | grep -q "^172\.16\.2\.0/24 "; do
		sleep 0.01; done; date +%s%N' >"$tmp/gone.$1" &
}
gone_at host1
gone_at host2
t0=$(date +%s%N)
lab link host3 down
lab agent host3 kill || fail "kill the host3 agent"
kill_bird host3
withdrawn() { [[ -s $tmp/gone.host1 && -s $tmp/gone.host2 ]]; }
poll 60 withdrawn || fail "host3's route not withdrawn from host1 and host2 within 60 s"
withdraw_ms=0
for h in host1 host2; do
	ms=$((($(<"$tmp/gone.$h") - t0) / 1000000))
	((ms > withdraw_ms)) && withdraw_ms=$ms
done
echo "host3's route withdrawn from host1 and host2 within ${withdraw_ms} ms of its death" \
	"(BFD detection ${detect_ms} ms, deadline ${deadline_ms} ms)"
((withdraw_ms <= deadline_ms)) ||
	fail "host3's route withdrawn after ${withdraw_ms} ms, past the deadline of ${deadline_ms} ms (BFD timers)"
has_routes host1 1 2 || fail "host1: routes after host3 died: $(bird_routes host1)"
has_routes host2 1 2 || fail "host2: routes after host3 died: $(bird_routes host2)"
reaches_all 1 2 || fail "host1 and host2 no longer reach each other after host3 died"
echo "PASS: BGP faults: agent restart lost nothing, a reflector's death lost nothing, a dead node withdrawn in ${withdraw_ms} ms"
