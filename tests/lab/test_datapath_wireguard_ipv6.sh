#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --backend wireguard over an IPv6-only underlay (issue 19), 2 hosts on
# one switch (2001:db8:1::5 and ::6), with a cluster key: every peer goes
# through nsa-wg, both families, its endpoint [2001:db8:1::6]:51820. The
# routes go via the next hop derived from the peer's node address
# (fe80::2001:db8:1:6: its halves XORed; the global address itself is
# on-link via eth0, and the kernel refuses it on nsa-wg). NS1 <-> NS1 both
# ways over IPv4 and IPv6: full-size DF pings at the MTU (underlay less
# 80) and 4 MiB of TCP each way, sources kept, while a capture on host1's
# switch port sees only WireGuard's UDP between the node addresses (no
# cluster address). wg(8) lists host2's key with the IPv6 endpoint and a
# recent handshake; WireGuard's UDP is not tracked. Each agent restarted
# under a 10 ms ping stream: nothing lost, the device and the routes via
# the derived next hop adopted with no kernel change. A peer removed by
# hand is put back; `nsagent down` leaves nothing.
# shellcheck disable=SC2015 # "A && B || fail" is meant
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
source "$(dirname "$0")/wg_lib.sh"
datapath_init dp_wireguard6

N1=2001:db8:1::5
N2=2001:db8:1::6
NH1=fe80::2001:db8:1:5 # the next hops that name host1 and host2 on nsa-wg
NH2=fe80::2001:db8:1:6

(umask 077 && "$NSAGENT" genkey >"$DP_TMP/cluster.key")
lab up --hosts 2 --underlay ipv6 -- --backend wireguard --key-file "$DP_TMP/cluster.key" >/dev/null ||
	fail "deploy/lab up --underlay ipv6 --backend wireguard"
poll 30 mesh_ready 2 || fail "no session between host1 and host2"
for h in host1:$N2 host2:$N1; do
	poll 30 peer_is "${h%%:*}" "${h#*:}" mode wireguard ||
		fail "${h%%:*}: peer ${h#*:} not in mode wireguard: $(peer_field "${h%%:*}" "${h#*:}" mode) ($(peer_field "${h%%:*}" "${h#*:}" mode_reason))"
	poll 30 peer_is "${h%%:*}" "${h#*:}" mode6 wireguard ||
		fail "${h%%:*}: peer ${h#*:} not in IPv6 mode wireguard"
done
has_routes() {
	lab exec "$1" -- ip -4 route show proto nsagent | grep_q "^$2 via inet6 $3 dev nsa-wg .*onlink" &&
		lab exec "$1" -- ip -6 route show proto nsagent | grep_q "^$4 via $3 dev nsa-wg .*onlink"
}
poll 30 has_routes host1 172.16.1.0/24 "$NH2" fd6e:7361:6765:1::/64 ||
	fail "host1's routes: $(lab exec host1 -- ip route show proto nsagent; lab exec host1 -- ip -6 route show proto nsagent)"
poll 30 has_routes host2 172.16.0.0/24 "$NH1" fd6e:7361:6765::/64 ||
	fail "host2's routes: $(lab exec host2 -- ip route show proto nsagent; lab exec host2 -- ip -6 route show proto nsagent)"
wg_device host1 1420 ip6 "$N1"

# Both families both ways, while the switch side of host1's port captures.
capture_start switch host1 || fail "no capture on the switch"
ns1_crossing 172.16.0.2 172.16.1.2
ns1_crossing fd6e:7361:6765::2 fd6e:7361:6765:1::2
capture_stop
wg_only_on_switch "$N1" "$N2" 51820 $((4 * BULK_BYTES))

key2=$(status_json host2 | jq -r .node.wg_public_key)
[[ ${#key2} == 44 ]] || fail "host2's status has no WireGuard public key: '$key2'"
wg_show_peer host1 "$key2" "[$N2]:51820" "172.16.1.0/24 fd6e:7361:6765:1::/64"
p=$(status_json host1 | jq -c --arg a "$N2" '.peers[] | select(.address == $a)')
[[ $(jq -r .mode_reason <<<"$p") == "--backend wireguard; encrypted" ]] || fail "why: $p"
[[ $(jq -r '.wireguard.last_handshake_ms' <<<"$p") -lt 180000 ]] || fail "handshake in status: $p"

# Graceful restarts: host1 adopts routes whose next hop does not say
# whose they are until host2 advertises again.
wg_restart_without_loss host1 "$N2" 172.16.1.2
wg_restart_without_loss host2 "$N1" 172.16.1.2
logs host1 'adopting 2 existing route(s) as stale' ||
	fail "host1 did not adopt its routes: $(log_last host1 | grep -i adopt)"
has_routes host1 172.16.1.0/24 "$NH2" fd6e:7361:6765:1::/64 || fail "host1's routes changed across its restart"

# A peer removed by hand is put back; down leaves nothing.
wg_peer_repaired host1 "$key2" fd6e:7361:6765:1::2
wg_down_leaves_nothing host1 host2
echo PASS
