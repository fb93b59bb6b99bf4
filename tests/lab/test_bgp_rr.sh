#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --routing bgp through real BIRD (issue 17): three nodes and a route
# reflector (host4, plain BIRD with deploy/bird/rr.conf, no nsagent) on
# one switch, each host's BIRD with its own config and control socket
# under its private /run.
#   - The agents start before BIRD: each writes its include at once, and
#     status (text and JSON) names BIRD and the socket as the problem,
#     health not ok; once BIRD runs, health is ok.
#   - Every node's NS1 reaches every other's, over routes BIRD installed
#     (proto bird); there is no nsagent peer session nor listener, and each
#     node holds exactly its one BGP session.
#   - Its metrics pass `promtool check metrics` and count BIRD up, the
#     session and the four routes (two /24s, two /64s: test_bgp_ipv6).
#   - Hostile routes announced by the reflector (a /17 over the cluster, a
#     default route, a node's own subnet) reach the nodes and are refused
#     by their import filters: in no node's kernel.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/bgp_lib.sh"

command -v promtool >/dev/null || fail "promtool not installed (deploy/deps.sh: prometheus)"
lab_init
lab up --hosts 4 --no-agent >/dev/null || fail "deploy/lab up"
labdir=/run/nsagent-lab/$NSAGENT_LAB
RR=192.168.1.8 # host4
NODES=(host1 host2 host3)

# The reflector: deploy/bird/rr.conf as it is.
bgp_reflector host4 rr.conf
for h in "${NODES[@]}"; do bgp_node "$h" --bgp-peer "$RR" --metrics 127.0.0.1:9470; done

# BIRD absent: the include is there, status says why the node is not healthy.
for h in "${NODES[@]}"; do
	[[ -s $labdir/$h/etc/bird-nsagent.conf ]] || fail "$h: no include written while BIRD is absent"
	grep_q 'protocol bgp nsagent_peer1' "$labdir/$h/etc/bird-nsagent.conf" ||
		fail "$h: the include has no session to the reflector"
	json=$(status_json "$h") && fail "$h: status exits 0 while BIRD does not answer"
	jq -e '.healthy == false and (.problem | test("BIRD.*/run/bird/bird.ctl")) and
		.routing == "bgp" and .bgp.bird_up == false and .bgp.bird_socket == "/run/bird/bird.ctl"' \
		<<<"$json" >/dev/null || fail "$h: status --json does not name BIRD and its socket: $json"
	text=$(lab exec "$h" -- "$NSAGENT" status) && fail "$h: status text exits 0"
	grep -E '^problem +BIRD is not answering on its control socket /run/bird/bird.ctl' <<<"$text" |
		grep_q . || fail "$h: status text does not name BIRD's socket: $text"
	grep_q 'NOT HEALTHY' <<<"$text" || fail "$h: status text not NOT HEALTHY: $text"
done

start_bird host4
for h in "${NODES[@]}"; do start_bird "$h"; done

healthy() { status_json "$1" | jq -e '.healthy == true and .bgp.bird_up == true' >/dev/null; }
for h in "${NODES[@]}"; do
	poll 30 healthy "$h" || fail "$h: not healthy 30 s after BIRD started: $(status_json "$h")"
done

# Every node: the two others' subnets, from BIRD, via their node IPs.
for h in "${NODES[@]}"; do
	poll 30 has_routes "$h" 1 2 3 ||
		fail "$h: BGP routes are '$(bird_routes "$h")', want '$(want_routes "$h" 1 2 3)'"
done

# NS1 to NS1, every ordered pair.
reaches_all 1 2 3 || fail "not every pair reaches"

# No nsagent peer session nor listener; one BGP session each, up, and the
# routes status shows with their next hops and source bgp.
for h in "${NODES[@]}"; do
	json=$(status_json "$h")
	jq -e '(.peers | length) == 0 and (.bgp.sessions | length) == 1 and
		.bgp.sessions[0].established == true and .bgp.sessions[0].peer == "192.168.1.8" and
		.bgp.export == "on" and (.bgp.routes | length) == 4 and
		(.bgp.routes | all(.source == "bgp" and (.next_hop | test("^192\\.168\\.1\\.|^fe80:"))))' \
		<<<"$json" >/dev/null || fail "$h: status --json BGP view: $json"
	[[ $(lab exec "$h" -- ss -Htln 'sport = :7470' | grep -c .) == 0 ]] ||
		fail "$h: something listens on the nsagent peer port in bgp mode"
	[[ $(sessions "$h") == 0 ]] || fail "$h: nsagent peer sessions in bgp mode"
	[[ $(lab exec "$h" -- ss -Htn state established '( dport = :179 or sport = :179 )' | grep -c .) == 1 ]] ||
		fail "$h: not exactly one BGP session"
	text=$(lab exec "$h" -- "$NSAGENT" status) || fail "$h: status exits $? while healthy"
	grep -E '^nsagent_peer1 +192\.168\.1\.8 +64512 +up +Established' <<<"$text" | grep_q . ||
		fail "$h: status text has no established BGP session: $text"
done
metrics_ok=$(lab exec host1 -- "$NSAGENT" status --json | jq -r '.bgp.routes | length')
[[ $metrics_ok == 4 ]] || fail "host1: $metrics_ok BGP routes in status (two /24s, two /64s)"
# Prometheus's own parser takes the bgp-mode scrape, which counts what
# status shows.
text=$(lab exec host1 -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics) || fail "host1: no metrics"
said=$(promtool check metrics <<<"$text" 2>&1) || fail "promtool check metrics failed: $said"
[[ -z $said ]] || fail "promtool check metrics complains: $said"
for want in nsagent_bird_up:1 nsagent_bgp_sessions_up:1 nsagent_bgp_sessions:1 nsagent_bgp_routes:4; do
	[[ $(metric_value "${want%:*}" "$text") == "${want#*:}" ]] ||
		fail "host1: ${want%:*} is '$(metric_value "${want%:*}" "$text")', want ${want#*:}"
done

# Hostile routes at the reflector: a /17 over the cluster, a default route
# and host2's own subnet (blackholes: BGP gives them the reflector as
# next hop).
cat >"$labdir/host4/etc/bird.conf" <<CONF
include "$NSAGENT_SOURCE_DIR/deploy/bird/rr.conf";
protocol static hostile {
	ipv4;
	route 172.16.0.0/17 blackhole;
	route 0.0.0.0/0 blackhole;
	route 172.16.1.0/24 blackhole;
}
CONF
bird_on host4 configure >/dev/null || fail "the reflector does not take the hostile routes"
# Each node's BIRD has received them and filtered them out.
filtered() {
	local out
	out=$(bird_on "$1" show route filtered) || return 1
	grep_q '^172\.16\.0\.0/17 ' <<<"$out" && grep_q '^0\.0\.0\.0/0 ' <<<"$out"
}
for h in "${NODES[@]}"; do
	poll 30 filtered "$h" || fail "$h: the hostile routes did not arrive (filtered): $(bird_on "$h" show route filtered)"
	routes_now=$(lab exec "$h" -- ip -4 route show proto bird)
	grep_q -E '^(172\.16\.0\.0/17|default) ' <<<"$routes_now" &&
		fail "$h: a hostile route is in the kernel: $routes_now"
done
bird_on host2 show route filtered 172.16.1.0/24 | grep_q '172.16.1.0/24' ||
	fail "host2: its own subnet from the reflector was not filtered"
lab exec host2 -- ip -4 route show proto bird | grep_q '^172\.16\.1\.0/24' &&
	fail "host2: took a BGP route for its own subnet"
# And traffic still flows.
lab exec host1 NS1 -- ping -n -c 1 -W 2 172.16.2.2 >/dev/null || fail "NS1@host1 lost host3"
echo "PASS: BGP through BIRD: 3 nodes + reflector, all pairs reach, hostile routes refused"
