#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Two hosts on an IPv6-only underlay (deploy/lab up --underlay ipv6: eth0
# has 2001:db8:1::5 and ::6, no IPv4), peering over IPv6 (--peer [ADDR]).
# Namespaces keep IPv4 across it: each host routes the other's /24 `via
# inet6 <its node address> dev eth0` (RTA_VIA) and its /64 via that same
# global address. NS1 <-> NS1 both ways over IPv4 and IPv6: full-size
# packets with DF, 4 MiB of TCP, the source address kept; status shows the
# peer as [2001:db8:1::6]:7470 and its address in JSON; the metrics label
# the probes with it. The via-inet6 route deleted by hand comes back; a
# SIGKILLed agent's routes stay (stale) and are refreshed when it returns;
# `nsagent down` removes them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"

datapath_init underlay_ipv6
lab up --hosts 2 --underlay ipv6 -- --metrics '[::1]:9470' >/dev/null ||
	fail "deploy/lab up --underlay ipv6"
pass() { echo "ok: $*"; }

N1=2001:db8:1::5
N2=2001:db8:1::6
# host1 holds 172.16.0.0/24 and fd6e:7361:6765::/64, host2 172.16.1.0/24
# and fd6e:7361:6765:1::/64; NS1 is .2 and ::2 in each.
NET2=172.16.1.0/24
NET2_6=fd6e:7361:6765:1::/64
NS1_1=172.16.0.2
NS1_2=172.16.1.2
NS1_1_6=fd6e:7361:6765::2
NS1_2_6=fd6e:7361:6765:1::2

# The underlay is IPv6 only: nothing of IPv4 on eth0.
[[ -z $(lab exec host1 -- ip -4 -o addr show dev eth0) ]] || fail "host1's eth0 has IPv4"
grep -qx "\[$N2\]" "/run/nsagent-lab/$NSAGENT_LAB/host1/agent.args" ||
	fail "host1 is not given --peer [$N2]: $(cat "/run/nsagent-lab/$NSAGENT_LAB/host1/agent.args")"

route4() { lab exec "$1" -- ip -4 route show proto nsagent; }
route6() { lab exec "$1" -- ip -6 route show proto nsagent; }
has_route4() { route4 "$1" | grep_q "^$2 via inet6 $3 dev eth0 "; }
has_route6() { route6 "$1" | grep_q "^$2 via $3 dev eth0 "; }
poll 30 has_route4 host1 "$NET2" "$N2" || fail "host1: no $NET2 via inet6 $N2: $(route4 host1)"
poll 30 has_route4 host2 172.16.0.0/24 "$N1" || fail "host2: no route via inet6 $N1: $(route4 host2)"
poll 30 has_route6 host1 "$NET2_6" "$N2" || fail "host1: no $NET2_6 via $N2: $(route6 host1)"
poll 30 has_route6 host2 fd6e:7361:6765::/64 "$N1" || fail "host2: no IPv6 route via $N1: $(route6 host2)"
pass "routes: $(route4 host1); $(route6 host1)"

# Status: the peer by its IPv6 address, in text and JSON.
poll 30 peer_is host1 "$N2" route installed || fail "status: $(status_json host1 | jq -c .peers)"
[[ $(status_json host1 | jq -r .node.ip) == "$N1" ]] || fail "status --json node ip: $(status_json host1 | jq -c .node)"
[[ $(peer_field host1 "$N2" port) == 7470 && $(peer_field host1 "$N2" mode) == direct &&
	$(peer_field host1 "$N2" route6) == installed ]] ||
	fail "status --json peer: $(status_json host1 | jq -c .peers)"
st=$(lab exec host1 -- "$NSAGENT" status) || fail "nsagent status"
grep_q -E "^node ip +$N1\$" <<<"$st" || fail "status text node ip: $st"
grep_q -E " \[$N2\]:7470 +established +direct +$NET2 " <<<"$st" || fail "status text peer: $st"
pass "status shows [$N2]:7470"

# Traffic: IPv4 and IPv6 both ways, full size with DF, bulk TCP, sources kept.
for fam in 4 6; do
	if ((fam == 4)); then a1=$NS1_1 a2=$NS1_2; else a1=$NS1_1_6 a2=$NS1_2_6; fi
	ns1_crossing "$a1" "$a2"
	pass "IPv$fam: ping, full-size DF, source kept, 4 MiB over TCP both ways"
done

# Metrics: the probes are labelled with the peer's IPv6 address.
probe_up() {
	local text
	text=$(lab exec host1 -- curl -sf 'http://[::1]:9470/metrics') || return 1
	[[ $(metric_value "nsagent_probe_up{peer=\"$N2\",family=\"ipv4\"}" "$text") == 1 ]]
}
poll 30 probe_up || fail "no nsagent_probe_up for peer $N2: $(lab exec host1 -- curl -s 'http://[::1]:9470/metrics' | grep probe_up)"
pass "metrics label the peer $N2"

# Drift: the via-inet6 route deleted by hand comes back.
lab exec host1 -- ip route del "$NET2"
poll 30 has_route4 host1 "$NET2" "$N2" || fail "deleted route not repaired: $(route4 host1)"
pass "deleted via-inet6 route repaired"

# Graceful restart: SIGKILL host2's agent; host1 keeps both routes (stale)
# and NS1 keeps reaching NS1@host2; the agent's return refreshes them.
lab exec host1 NS1 -- ping -n -i 0.01 -c 600 -W 1 "$NS1_2" >"$DP_TMP/ping" 2>&1 &
pinger=$!
DP_PIDS+=("$pinger")
poll 30 grep -q icmp_seq= "$DP_TMP/ping" || fail "the ping did not start"
lab agent host2 kill || fail "kill the host2 agent"
poll 30 peer_is host1 "$N2" route stale || fail "host1's route to host2 is not stale: $(peer_field host1 "$N2" route)"
has_route4 host1 "$NET2" "$N2" || fail "host1 dropped the route when host2's agent died: $(route4 host1)"
has_route6 host1 "$NET2_6" "$N2" || fail "host1 dropped the IPv6 route when host2's agent died"
lab agent host2 start >/dev/null || fail "restart the host2 agent"
poll 30 peer_is host1 "$N2" route installed || fail "host1's route to host2 not refreshed"
wait "$pinger" || true
grep -q '600 packets transmitted, 600 received' "$DP_TMP/ping" ||
	fail "packets lost while host2's agent restarted: $(grep transmitted "$DP_TMP/ping")"
# host2 adopted its own routes across its restart (SIGKILL left them).
poll 30 has_route4 host2 172.16.0.0/24 "$N1" || fail "host2 lost its route: $(route4 host2)"
logs host2 'adopting 2 existing route(s) as stale' || fail "host2 did not adopt its routes: $(log_last host2 | grep -i adopt)"
pass "graceful restart keeps and refreshes the routes over IPv6"

# down removes them.
lab exec host1 -- "$NSAGENT" down --config /dev/null || fail "nsagent down"
[[ -z $(route4 host1) && -z $(route6 host1) ]] || fail "routes left after down: $(route4 host1) $(route6 host1)"
echo PASS
