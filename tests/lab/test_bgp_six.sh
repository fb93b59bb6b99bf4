#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --routing bgp through real BIRD, the issue's lab (issue 17): six nodes
# (host1..6) and two route reflectors (host7, host8: plain BIRD with
# deploy/bird/rr.conf as it is, no nsagent) on one switch, each host's
# BIRD with its own config and control socket under its private /run.
#   - The agents start before BIRD: each writes its include at once, and
#     status (text and JSON) names BIRD and the socket as the problem,
#     health not ok; once BIRD runs, health is ok.
#   - Every node's NS1 reaches every other's (all 30 ordered pairs), over
#     routes BIRD installed (proto bird); there is no nsagent peer session
#     nor listener, and each node holds exactly its two BGP sessions (the
#     sockets, status JSON and text, and `birdc show protocols`).
#   - Its metrics pass `promtool check metrics` and count BIRD up, the two
#     sessions and the five routes.
#   - Each node probes the node behind every route (its next hop), and
#     status (text, JSON) and metrics show the result per route; host3's
#     data path broken under its live BGP sessions (an nft drop of the
#     echoes to its bridge, in host3) shows as failed on the five others,
#     logged once, and heals.
#   - An nsagent restart (SIGTERM, start) on host2 while streams to and
#     from NS1@host2 ping every 10 ms: nothing lost, no route changed
#     anywhere (graceful restart; the agent that finds its own include on
#     disk keeps announcing its subnet).
#   - One reflector killed (SIGKILL) while every node streams to the next:
#     nothing lost, every route still installed, every pair still reaches;
#     the reflector returns and every node has its two sessions again.
#   - A node dies (host6: its switch port down, then its agent and BIRD
#     killed, so that no TCP FIN nor BGP notification gets out, as when a
#     machine loses power): the reflectors' BFD finds it down within the
#     rendered BFD timers and the five other kernels lose its route within
#     a deadline derived from them; the time measured is printed.
#   - Hostile routes announced by a reflector (a /17 over the cluster, a
#     default route, a node's own subnet) reach the nodes and are refused
#     by their import filters: in no node's kernel.
# (This folds in the three-node tests that came before it: test_bgp_rr,
# one reflector, and test_bgp_faults, two.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

command -v promtool >/dev/null || fail "promtool not installed (deploy/deps.sh: prometheus)"
lab_init
tmp=$(mktemp -d)
lab_at_exit 'rm -rf "$tmp"'
lab up --hosts 8 --no-agent >/dev/null || fail "deploy/lab up"
labdir=/run/nsagent-lab/$NSAGENT_LAB
RR1=192.168.1.11 # host7
RR2=192.168.1.12 # host8
NODES=(1 2 3 4 5 6)

bgp_reflector host7 rr.conf
bgp_reflector host8 rr.conf
for i in "${NODES[@]}"; do
	bgp_node "host$i" --bgp-peer "$RR1" --bgp-peer "$RR2" --metrics 127.0.0.1:9470 \
		--probe-interval 1s
done

# BIRD absent: the include is there, status says why the node is not healthy.
for i in "${NODES[@]}"; do
	h=host$i
	[[ -s $labdir/$h/etc/bird-nsagent.conf ]] || fail "$h: no include written while BIRD is absent"
	grep_q 'protocol bgp nsagent_peer2' "$labdir/$h/etc/bird-nsagent.conf" ||
		fail "$h: the include has no second session"
	json=$(status_json "$h") && fail "$h: status exits 0 while BIRD does not answer"
	jq -e '.healthy == false and (.problem | test("BIRD.*/run/bird/bird.ctl")) and
		.routing == "bgp" and .bgp.bird_up == false and .bgp.bird_socket == "/run/bird/bird.ctl"' \
		<<<"$json" >/dev/null || fail "$h: status --json does not name BIRD and its socket: $json"
done
text=$(lab exec host1 -- "$NSAGENT" status) && fail "host1: status text exits 0 while BIRD is absent"
grep -E '^problem +BIRD is not answering on its control socket /run/bird/bird.ctl' <<<"$text" |
	grep_q . || fail "host1: status text does not name BIRD's socket: $text"
grep_q 'NOT HEALTHY' <<<"$text" || fail "host1: status text not NOT HEALTHY: $text"

start_bird host7
start_bird host8
for i in "${NODES[@]}"; do start_bird "host$i"; done

poll 90 bgp_ready 2 "${NODES[@]}" || {
	for i in "${NODES[@]}"; do echo "host$i: $(bird_routes "host$i" | tr '\n' ';') $(bgp_established "host$i") sessions" >&2; done
	fail "the six nodes did not converge over two reflectors"
}
reaches_all "${NODES[@]}" || fail "not every pair of the six nodes reaches"

# No nsagent peer session nor listener; two BGP sessions each, up, and the
# routes status shows with their next hops and source bgp: a /24 and a /64
# (via the node's link-local address) from each other node.
for i in "${NODES[@]}"; do
	h=host$i
	want=$(want_routes "$h" "${NODES[@]}" | jq -R 'split(" ") | {subnet: .[0], next_hop: .[2]}' | jq -s -c .)
	json=$(status_json "$h") || fail "$h: status exits $? while converged: $json"
	jq -e --argjson want "$want" '.healthy and (.peers | length) == 0 and
		(.bgp.sessions | length) == 2 and (.bgp.sessions | all(.established)) and
		([.bgp.sessions[].peer] | sort) == ["192.168.1.11", "192.168.1.12"] and
		.bgp.export == "on" and (.bgp.routes | all(.source == "bgp")) and
		([.bgp.routes[] | select(.subnet | contains(".")) | {subnet, next_hop}] | sort) == ($want | sort) and
		([.bgp.routes[] | select(.subnet | contains(":")) |
			select(.subnet | endswith("::/64")) | select(.next_hop | startswith("fe80:"))] |
			length) == ($want | length)' \
		<<<"$json" >/dev/null || fail "$h: status --json BGP view (want routes $want): $json"
	[[ $(lab exec "$h" -- ss -Htln 'sport = :7470' | grep -c .) == 0 ]] ||
		fail "$h: something listens on the nsagent peer port in bgp mode"
	[[ $(sessions "$h") == 0 ]] || fail "$h: nsagent peer sessions in bgp mode"
	protocols=$(bird_on "$h" show protocols) || fail "$h: birdc show protocols"
	[[ $(grep -c ' BGP ' <<<"$protocols") == 2 &&
		$(grep -cE '^nsagent_peer[12] +BGP .* up .* Established' <<<"$protocols") == 2 ]] ||
		fail "$h: BIRD does not hold exactly its two established BGP sessions: $protocols"
done
text=$(lab exec host1 -- "$NSAGENT" status) || fail "host1: status exits $? while healthy"
for want in "nsagent_peer1 +$RR1" "nsagent_peer2 +$RR2"; do
	grep -E "^$want +64512 +up +Established" <<<"$text" | grep_q . ||
		fail "host1: status text has no established session '$want': $text"
done
# Prometheus's own parser takes the bgp-mode scrape, which counts what
# status shows.
text=$(lab exec host1 -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics) || fail "host1: no metrics"
said=$(promtool check metrics <<<"$text" 2>&1) || fail "promtool check metrics failed: $said"
[[ -z $said ]] || fail "promtool check metrics complains: $said"
for want in nsagent_bird_up:1 nsagent_bgp_sessions_up:2 nsagent_bgp_sessions:2 nsagent_bgp_routes:10; do
	[[ $(metric_value "${want%:*}" "$text") == "${want#*:}" ]] ||
		fail "host1: ${want%:*} is '$(metric_value "${want%:*}" "$text")', want ${want#*:}"
done

# Data-path probes to the BGP next hops: every node probes the node behind
# each route, bridge to bridge as the mesh probes a peer, and shows the
# result per route. host3's kernel then drops the echoes to its bridge (an
# nft table of this test's own in host3's namespace) while its BGP
# sessions stay up: the five others show that route's probe failed, and
# log it once; host3's own probes, and the others' routes, stay ok.
# probes HOST: "SUBNET NEXT_HOP PROBE" per IPv4 route in HOST's status, sorted.
probes() { status_json "$1" | jq -r '.bgp.routes[] | select(.subnet | contains(".")) | "\(.subnet) \(.next_hop) \(.probe)"' | sort; }
# probes_are RESULT3 NODES...: each node of NODES has a probe ok for every
# route, but RESULT3 for host3's (172.16.2.0/24 via 192.168.1.7).
probes_are() {
	local want3=$1 i want
	shift
	for i in "$@"; do
		want=$(want_routes "host$i" "${NODES[@]}" | awk -v w="$want3" \
			'{print $1, $3, ($1 == "172.16.2.0/24" ? w : "ok")}')
		[[ $(probes "host$i") == "$want" ]] || return 1
	done
}
all_probes() { for i in "$@"; do echo "host$i: $(probes "host$i" | tr '\n' ';')"; done; }
OTHERS=(1 2 4 5 6)
poll 30 probes_are ok "${NODES[@]}" ||
	fail "the probes to the BGP next hops are not all ok: $(all_probes "${NODES[@]}")"
table=bgpprobe$$
lab_at_exit "lab exec host3 -- nft delete table ip $table 2>/dev/null"
lab exec host3 -- nft -f - <<EOF
table ip $table {
	chain input {
		type filter hook input priority filter; policy accept;
		ip daddr 172.16.2.1 icmp type echo-request drop
	}
}
EOF
poll 30 probes_are failed "${OTHERS[@]}" ||
	fail "host3's data path broken, but not in the others' probes: $(all_probes "${OTHERS[@]}")"
probes_are ok 3 || fail "host3's own probes failed: $(probes host3)"
bgp_ready 2 "${NODES[@]}" || fail "BGP sessions or routes lost while only the probes were dropped"
# Health stays what the mesh shows with a failed probe (ok: a probe
# reports the data path, it is not a fault of this node).
for i in "${OTHERS[@]}"; do
	json=$(status_json "host$i") || fail "host$i: status exits $? with a failed probe: $json"
	jq -e '.healthy and (.bgp.routes[] | select(.subnet == "172.16.2.0/24") |
		.probe_rtt_ms == null and .probe_lost >= 3 and .probe_loss_ratio > 0)' <<<"$json" >/dev/null ||
		fail "host$i: status --json of the failed probe: $json"
done
text=$(lab exec host1 -- "$NSAGENT" status) || fail "host1: status exits $? with a failed probe"
grep -E '^172\.16\.2\.0/24 +192\.168\.1\.7 +bgp +failed +-$' <<<"$text" | grep_q . ||
	fail "host1: status text does not show the failed probe: $text"
grep -E '^172\.16\.1\.0/24 +192\.168\.1\.6 +bgp +ok +[0-9]+\.[0-9]{3}ms$' <<<"$text" | grep_q . ||
	fail "host1: status text does not show the working probe with its round trip: $text"
text=$(lab exec host1 -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics) || fail "host1: no metrics"
[[ $(metric_value 'nsagent_probe_up{peer="192.168.1.7",family="ipv4"}' "$text") == 0 &&
	$(metric_value 'nsagent_probe_up{peer="192.168.1.6",family="ipv4"}' "$text") == 1 ]] ||
	fail "host1: probe_up of the next hops: $(grep '^nsagent_probe_up' <<<"$text")"
logs host1 'data path to peer 192.168.1.7 broken: [0-9]* probes to 172.16.2.1 lost in a row' ||
	fail "host1: no log line for the broken data path to host3"
# Healed: ok again everywhere, logged once each way.
lab exec host3 -- nft delete table ip "$table"
poll 30 probes_are ok "${NODES[@]}" || fail "the probes to host3 did not heal: $(all_probes "${OTHERS[@]}")"
[[ $(log_last host1 | grep -c 'data path to peer 192.168.1.7 broken') == 1 &&
	$(log_last host1 | grep -c 'data path to peer 192.168.1.7 healed') == 1 ]] ||
	fail "host1: want one broken and one healed line for 192.168.1.7: $(log_last host1 | grep 'data path')"

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

# streams FROM:TO...: NS1@FROM pings NS1@TO every 10 ms, 1200 times, for
# each pair at once; returns once every stream has its first reply.
STREAMS=()
streams() {
	local pair s
	STREAMS=()
	for pair in "$@"; do
		lab exec "host${pair%:*}" NS1 -- ping -n -i 0.01 -c 1200 -W 1 \
			"172.16.$((${pair#*:} - 1)).2" >"$tmp/ping.$pair" 2>&1 &
		STREAMS+=("$pair:$!")
	done
	for s in "${STREAMS[@]}"; do
		poll 30 grep -q icmp_seq= "$tmp/ping.${s%:*}" || fail "the ping stream ${s%:*} did not start"
	done
}
# streams_lost_nothing WHY: every stream got its 1200 replies.
streams_lost_nothing() {
	local s
	for s in "${STREAMS[@]}"; do
		wait "${s##*:}" || true
		grep_q '1200 packets transmitted, 1200 received' "$tmp/ping.${s%:*}" ||
			fail "stream NS1@host${s%%:*} -> NS1@host$(cut -d: -f2 <<<"$s") lost packets $1:" \
				"$(grep transmitted "$tmp/ping.${s%:*}")"
	done
}

# 1. nsagent restart on host2: BIRD and the kernel keep the routes, and the
# agent does not withdraw its subnet on the way back.
streams 1:2 2:3 4:2
lab agent host2 restart >/dev/null || fail "restart the host2 agent"
export_on() { status_json host2 | jq -e '.healthy and .bgp.export == "on"' >/dev/null; }
poll 30 export_on || fail "host2: not announcing again after its restart: $(status_json host2)"
streams_lost_nothing "while the host2 agent restarted"
routes_unchanged "across the host2 agent restart"
# Its include announces host2's subnet again: BIRD's export to the reflectors.
bird_on host2 show route export nsagent_peer1 | grep_q '^172\.16\.1\.0/24 ' ||
	fail "host2: BIRD does not export its subnet after the agent restart"

# 2. A reflector dies: the other one carries every route.
streams 1:2 2:3 3:4 4:5 5:6 6:1
kill_bird host7
one_left() {
	local i
	for i in "${NODES[@]}"; do [[ $(bgp_established "host$i") == 1 ]] || return 1; done
}
poll 30 one_left || fail "the nodes still hold sessions to the killed reflector"
streams_lost_nothing "while a reflector died"
routes_unchanged "after a reflector died"
reaches_all "${NODES[@]}" || fail "not every pair reaches with one reflector"
# It returns; every node has both sessions again, and the same routes.
start_bird host7
poll 60 bgp_ready 2 "${NODES[@]}" || fail "the nodes did not take the reflector back"
routes_unchanged "after the reflector returned"

# 3. host6 dies. The deadline: BFD's detection time, plus 1.5 s for the
# reflectors' withdrawal to cross a BGP session and reach the kernels
# (generous on a loaded machine; BGP's own hold time, the fallback
# without BFD, is 240 s).
detect_ms=$((BGP_BFD_INTERVAL_MS * BGP_BFD_MULTIPLIER))
for r in host7 host8; do
	poll 30 bfd_up "$r" 192.168.1.10 ||
		fail "$r: no BFD session Up with host6: $(bird_on "$r" show bfd sessions)"
done
deadline_ms=$((detect_ms + 1500))
# gone_at HOST: a watcher on HOST writes the time (ns) at which host6's
# route (172.16.5.0/24: 000510AC in /proc/net/route) left its kernel into
# $tmp/gone.HOST. It is started before the death, so the time measured is
# the kernel's, not this script's polling; and it reads /proc and waits
# with bash builtins alone (a read with a timeout on a pipe nobody
# writes), since five watchers forking ip and grep every 10 ms would load
# the two cores that BIRD needs to withdraw the route.
gone_at() {
	lab exec "$1" -- bash -c 'exec {tick}<> <(:)
		present() {
			local _ dest
			while read -r _ dest _; do [[ $dest == 000510AC ]] && return 0; done </proc/net/route
			return 1
		}
		while present; do read -r -t 0.01 -u "$tick" _ || true; done
		date +%s%N' >"$tmp/gone.$1" &
}
LIVE=(1 2 3 4 5)
for i in "${LIVE[@]}"; do gone_at "host$i"; done
# The death is the instant host6's switch port goes down: taken in the
# process that downs it (as `lab link host6 down` does), not before a
# lab command's start-up.
t0=$(nsenter --net="$labdir/$(<"$labdir/host6/switch")/net" -- sh -c 'date +%s%N; ip link set host6 down') ||
	fail "cannot down host6's switch port"
lab agent host6 kill || fail "kill the host6 agent"
kill_bird host6
withdrawn() {
	local i
	for i in "${LIVE[@]}"; do [[ -s $tmp/gone.host$i ]] || return 1; done
}
poll 60 withdrawn || fail "host6's route not withdrawn from every other node within 60 s"
withdraw_ms=0
for i in "${LIVE[@]}"; do
	ms=$((($(<"$tmp/gone.host$i") - t0) / 1000000))
	((ms >= 0)) || fail "host$i: host6's route was gone before host6 died"
	((ms > withdraw_ms)) && withdraw_ms=$ms
done
echo "host6's route withdrawn from the five other nodes within ${withdraw_ms} ms of its death" \
	"(BFD detection ${detect_ms} ms, deadline ${deadline_ms} ms)"
((withdraw_ms <= deadline_ms)) ||
	fail "host6's route withdrawn after ${withdraw_ms} ms, past the deadline of ${deadline_ms} ms (BFD timers)"
for i in "${LIVE[@]}"; do
	has_routes "host$i" "${LIVE[@]}" || fail "host$i: routes after host6 died: $(bird_routes "host$i")"
done
reaches_all "${LIVE[@]}" || fail "the five nodes left no longer reach each other after host6 died"

# 4. Hostile routes at a reflector: a /17 over the cluster, a default
# route and host2's own subnet (blackholes: BGP gives them the reflector
# as next hop).
cat >"$labdir/host7/etc/bird.conf" <<CONF
include "$NSAGENT_SOURCE_DIR/deploy/bird/rr.conf";
protocol static hostile {
	ipv4;
	route 172.16.0.0/17 blackhole;
	route 0.0.0.0/0 blackhole;
	route 172.16.1.0/24 blackhole;
}
CONF
bird_on host7 configure >/dev/null || fail "the reflector does not take the hostile routes"
# Each node's BIRD has received them and filtered them out.
for i in "${LIVE[@]}"; do
	h=host$i
	poll 30 bird_filtered "$h" 172.16.0.0/17 0.0.0.0/0 || fail "$h: the hostile routes did not arrive (filtered): $(bird_on "$h" show route filtered)"
	routes_now=$(lab exec "$h" -- ip -4 route show proto bird)
	grep_q -E '^(172\.16\.0\.0/17|default) ' <<<"$routes_now" &&
		fail "$h: a hostile route is in the kernel: $routes_now"
done
bird_on host2 show route filtered 172.16.1.0/24 | grep_q '172.16.1.0/24' ||
	fail "host2: its own subnet from the reflector was not filtered"
lab exec host2 -- ip -4 route show proto bird | grep_q '^172\.16\.1\.0/24' &&
	fail "host2: took a BGP route for its own subnet"
# And traffic still flows between the nodes whose subnets nobody else
# announces. (host2's is a hijack the others cannot tell from host2's own
# announcement: they trust the reflector, and its static route beats the
# one it reflects; only host2, whose own subnet it is, can refuse it.)
reaches_all 1 3 4 5 || fail "not every pair reaches with the hostile routes announced"
echo "PASS: BGP, six nodes and two reflectors: all 30 pairs reach, agent restart and a reflector's" \
	"death lost nothing, a dead node withdrawn in ${withdraw_ms} ms, hostile routes refused"
