#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# IPv6 between nodes on one IPv4-only underlay segment, 2 hosts: each
# routes the other's /64 via the other's link-local address on eth0 (Linux
# takes no IPv4 next hop for an IPv6 route; BGP unnumbered does the same),
# and status says so per peer. NS1 <-> NS1 over IPv6: full-size packets
# with DF, 4 MiB of TCP, the source address kept (no NAT inside the
# cluster). An IPv6 route deleted by hand comes back. Graceful restart: a
# SIGKILLed agent's /64 stays routed (stale) on its peer and is refreshed
# when it returns, without a lost packet. A link without IPv6 sends IPv6
# over VXLAN, and the log says so per peer.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
datapath_lab dp_ipv6 2

# host1 holds 172.16.0.0/24 and fd6e:7361:6765::/64, host2 172.16.1.0/24
# and fd6e:7361:6765:1::/64; NS1 is .2 and ::2 in each.
NET2=fd6e:7361:6765:1::/64
NS1_1=fd6e:7361:6765::2
NS1_2=fd6e:7361:6765:1::2
ll_of() { lab exec "$1" -- ip -6 -o addr show dev eth0 scope link | awk '{sub("/.*", "", $4); print $4}'; }
ll2=$(ll_of host2)
[[ $ll2 == fe80:* ]] || fail "host2's eth0 has no link-local address: '$ll2'"

route6() { lab exec "$1" -- ip -6 route show proto nsagent; }
has_route6() { route6 "$1" | grep_q "^$2 via $3 dev eth0"; }
poll 30 has_route6 host1 "$NET2" "$ll2" || fail "host1 has no IPv6 route to host2's /64 via $ll2: $(route6 host1)"
poll 30 has_route6 host2 fd6e:7361:6765::/64 "$(ll_of host1)" ||
	fail "host2 has no IPv6 route to host1's /64: $(route6 host2)"
pass() { echo "ok: $*"; }
pass "direct IPv6 routes: $(route6 host1)"

poll 30 peer_is host1 192.168.1.6 route6 installed || fail "status: route6 $(peer_field host1 192.168.1.6 route6)"
[[ $(peer_field host1 192.168.1.6 subnet6) == "$NET2" && $(peer_field host1 192.168.1.6 mode6) == direct &&
	$(peer_field host1 192.168.1.6 link_local6) == "$ll2" ]] ||
	fail "status --json of host2 on host1: $(status_json host1 | jq -c '.peers[0]')"
st=$(lab exec host1 -- "$NSAGENT" status) || fail "nsagent status"
grep -Eq "fd6e:7361:6765:1::/64 +direct +installed +$ll2" <<<"$st" || fail "status text: $st"
# No IPv4 next hop was ever asked of the kernel for IPv6, and no fallback.
! logs host1 'IPv6 mode vxlan' || fail "host1 fell back to VXLAN for IPv6 on a shared link"
pass "status shows the /64, its route and its path"

lab exec host1 NS1 -- ip -6 addr show dev eth0 | grep_q "$NS1_1/64" ||
	fail "NS1@host1 has no $NS1_1 (is the local IPv6 topology merged?)"
poll 30 lab exec host1 NS1 -- ping -6 -n -c 1 -W 1 "$NS1_2" || fail "NS1@host1 cannot ping6 NS1@host2"
full_size host1 NS1 "$NS1_2" || fail "full-size DF ping6 NS1@host1 -> NS1@host2"
full_size host2 NS1 "$NS1_1" || fail "full-size DF ping6 NS1@host2 -> NS1@host1"
src=$(seen_as "$NS1_2" host2 NS1 -- host1 NS1)
[[ $src == "$NS1_1" ]] || fail "NS1@host2 sees NS1@host1 as '$src', not $NS1_1"
out=$(bulk host1 NS1 host2 NS1 "$NS1_2") || fail "bulk TCP over IPv6: $out"
pass "ping6, full-size DF, source kept, 4 MiB over TCP/IPv6"

# Drift: the route deleted by hand comes back.
lab exec host1 -- ip -6 route del "$NET2"
poll 30 has_route6 host1 "$NET2" "$ll2" || fail "deleted IPv6 route not repaired: $(route6 host1)"
pass "deleted IPv6 route repaired"

# Graceful restart: SIGKILL host2's agent; host1 keeps its /64 (stale) and
# NS1 keeps reaching it; the agent's return refreshes it.
lab exec host1 NS1 -- ping -6 -n -i 0.01 -c 600 -W 1 "$NS1_2" >"$DP_TMP/ping" 2>&1 &
pinger=$!
DP_PIDS+=("$pinger")
poll 30 grep -q icmp_seq= "$DP_TMP/ping" || fail "the ping did not start"
lab agent host2 kill || fail "kill the host2 agent"
poll 30 peer_is host1 192.168.1.6 route6 stale || fail "host1's route6 to host2 is not stale: $(peer_field host1 192.168.1.6 route6)"
has_route6 host1 "$NET2" "$ll2" || fail "host1 dropped the route to host2's /64 when its agent died"
lab agent host2 start >/dev/null || fail "restart the host2 agent"
poll 30 peer_is host1 192.168.1.6 route6 installed || fail "host1's route6 to host2 not refreshed"
wait "$pinger" || true
grep -q '600 packets transmitted, 600 received' "$DP_TMP/ping" ||
	fail "packets lost while host2's agent restarted: $(grep transmitted "$DP_TMP/ping")"
has_route6 host1 "$NET2" "$ll2" || fail "host1's route changed across the restart: $(route6 host1)"
pass "graceful restart keeps and refreshes the IPv6 route"

# host2's link without IPv6: it advertises no link-local address and has
# none to reach host1's by, so IPv6 goes over VXLAN both ways (IPv4 stays
# direct), and host1 says so, once, for that peer.
lab exec host2 -- sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1
lab agent host2 restart >/dev/null || fail "restart the host2 agent"
vx_route6() { route6 "$1" | grep_q "^$2 via fe80::[0-9a-f:]* dev nsa-vxlan .*onlink"; }
poll 30 vx_route6 host1 "$NET2" || fail "host1 did not fall back to VXLAN for IPv6: $(route6 host1)"
poll 30 vx_route6 host2 fd6e:7361:6765::/64 || fail "host2 did not fall back to VXLAN for IPv6: $(route6 host2)"
[[ $(peer_field host1 192.168.1.6 mode) == direct ]] || fail "IPv4 left the direct path"
poll 30 logs host1 'IPv6 mode vxlan, not direct as IPv4: it advertises no link-local address' ||
	fail "host1 did not log the fallback"
poll 30 logs host2 'IPv6 mode vxlan, not direct as IPv4: our underlay link eth0 has no IPv6' ||
	fail "host2 did not log the fallback"
poll 30 lab exec host1 NS1 -- ping -6 -n -c 1 -W 1 "$NS1_2" || fail "no IPv6 over the VXLAN fallback"
pass "IPv6 falls back to VXLAN where the link has none"

# down removes the IPv6 routes too.
lab exec host1 -- "$NSAGENT" down --config /dev/null || fail "nsagent down"
[[ -z $(route6 host1) ]] || fail "IPv6 routes left after down: $(route6 host1)"
echo PASS
