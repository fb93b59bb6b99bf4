#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --backend wireguard under faults (issue 19), 2 hosts on one switch, a
# ping every 10 ms from NS1@host1 to NS1@host2 through each one:
#  - each agent killed and started again: no ping lost, no kernel change
#    and no new wireguard-go (the device, its peers and routes adopted);
#  - `nsagent rotate-key` on host1: a new key in its key file, status and
#    host2's device, with no more loss than one handshake takes;
#  - host2's peer removed from host1's device by hand (wg set ... remove):
#    put back by the agent's read-back (a wireguard repair counted);
#  - host1's device deleted by hand: wireguard-go started again, the
#    device ours again (alias, MTU) with its routes, traffic flowing;
#  - `nsagent down` on host1: no device, socket, process, route or table
#    left, and host2's device no longer has host1 as a peer.
# shellcheck disable=SC2015 # "A && B || fail" is meant
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
source "$(dirname "$0")/wg_lib.sh"
datapath_init dp_wg_faults

lab up --hosts 2 -- --backend wireguard >/dev/null || fail "deploy/lab up --backend wireguard"
poll 30 mesh_ready 2 || fail "no session between host1 and host2"
poll 30 peer_is host1 192.168.1.6 mode wireguard || fail "host1: host2 not in mode wireguard"
poll 30 peer_is host2 192.168.1.5 mode wireguard || fail "host2: host1 not in mode wireguard"
lab ping host1 NS1 172.16.1.2 || fail "NS1@host1 cannot reach NS1@host2"

wg_restart_without_loss host1 192.168.1.6 172.16.1.2
wg_restart_without_loss host2 192.168.1.5 172.16.1.2

# Key rotation.
old=$(status_json host1 | jq -r .node.wg_public_key)
old_file=$(lab exec host1 -- cat /var/lib/nsagent/wireguard.key)
wg_stream 1000 172.16.1.2
sleep_until_some() { (($(grep -c icmp_seq= "$DP_TMP/ping") >= 100)); }
poll 30 sleep_until_some || fail "the ping stream stalled before the rotation"
out=$(lab exec host1 -- "$NSAGENT" rotate-key) || fail "nsagent rotate-key: $out"
new=$(status_json host1 | jq -r .node.wg_public_key)
[[ $new != "$old" && ${#new} == 44 && $out == *"$new"* ]] || fail "rotate-key: '$out', status key $old -> $new"
[[ $(lab exec host1 -- cat /var/lib/nsagent/wireguard.key) != "$old_file" ]] || fail "the key file was not replaced"
[[ $(lab exec host1 -- wg show nsa-wg public-key) == "$new" ]] || fail "host1's device has not the new key"
poll 10 eval '[[ $(wg_peers host2) == "$new" ]]' || fail "host2's device has not host1's new key: $(wg_peers host2)"
wait "$WG_PINGER" || true
lost=$((1000 - $(wg_received)))
echo "key rotation: $lost of 1000 pings lost, $(grep rtt "$DP_TMP/ping")"
# One handshake: WireGuard retries an unanswered one after 5 s (REKEY_TIMEOUT).
((lost <= 500)) || fail "key rotation lost $lost pings (more than one handshake's 5 s)"

# A peer removed by hand is put back.
wg_peer_repaired host1 "$(status_json host2 | jq -r .node.wg_public_key)" 172.16.1.2

# The device deleted by hand: the process ends with it, and comes back.
starts=$(counter host1 wireguard_starts)
lab exec host1 -- ip link del nsa-wg
lab ping --timeout 20 host1 NS1 172.16.1.2 || fail "no traffic after deleting nsa-wg"
(($(counter host1 wireguard_starts) > starts)) || fail "nsa-wg is back, but no wireguard-go was started"
dev=$(lab exec host1 -- ip -d link show nsa-wg)
grep_q 'mtu 1440 ' <<<"$dev" && grep_q 'alias nsagent:wireguard' <<<"$dev" ||
	fail "nsa-wg is back without its MTU or alias: $dev"
lab exec host1 -- ip route show proto nsagent | grep_q '^172.16.1.0/24 via 192.168.1.6 dev nsa-wg' ||
	fail "the route through nsa-wg is not back"

# down leaves nothing.
wg_down_leaves_nothing host1 host2
echo PASS
