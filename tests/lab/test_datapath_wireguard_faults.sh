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
datapath_init dp_wg_faults

lab up --hosts 2 -- --backend wireguard >/dev/null || fail "deploy/lab up --backend wireguard"
poll 30 mesh_ready 2 || fail "no session between host1 and host2"
poll 30 peer_is host1 192.168.1.6 mode wireguard || fail "host1: host2 not in mode wireguard"
poll 30 peer_is host2 192.168.1.5 mode wireguard || fail "host2: host1 not in mode wireguard"
lab ping host1 NS1 172.16.1.2 || fail "NS1@host1 cannot reach NS1@host2"

# stream N: N pings every 10 ms in the background into $DP_TMP/ping.
stream() {
	lab exec host1 NS1 -- ping -n -i 0.01 -c "$1" -W 1 172.16.1.2 >"$DP_TMP/ping" 2>&1 &
	pinger=$!
	poll 30 grep -q icmp_seq= "$DP_TMP/ping" || fail "the ping did not start"
}
received() { sed -n 's/.* \([0-9]*\) received.*/\1/p' "$DP_TMP/ping"; }
wg_peers() { lab exec "$1" -- wg show nsa-wg peers; }

declare -A other=([host1]=192.168.1.6 [host2]=192.168.1.5)
for victim in host1 host2; do
	stream 1000
	lab agent "$victim" kill || fail "kill the $victim agent"
	lab agent "$victim" start >/dev/null || fail "start the $victim agent again"
	poll 30 mesh_ready 2 || fail "no session after restarting $victim"
	poll 30 peer_is "$victim" "${other[$victim]}" mode wireguard ||
		fail "$victim: peer not in mode wireguard after its restart"
	wait "$pinger" || true
	[[ $(received) == 1000 ]] || fail "packets lost while the $victim agent restarted: $(grep transmitted "$DP_TMP/ping")"
	[[ $(counter "$victim" wireguard_starts) == 0 ]] ||
		fail "the restarted $victim agent started wireguard-go instead of adopting the device"
	[[ $(counter "$victim" reconcile_changes) == 0 ]] ||
		fail "the restarted $victim agent changed the kernel: $(counter "$victim" reconcile_changes) change(s)"
done

# Key rotation.
old=$(status_json host1 | jq -r .node.wg_public_key)
old_file=$(lab exec host1 -- cat /var/lib/nsagent/wireguard.key)
stream 1000
sleep_until_some() { (($(grep -c icmp_seq= "$DP_TMP/ping") >= 100)); }
poll 30 sleep_until_some || fail "the ping stream stalled before the rotation"
out=$(lab exec host1 -- "$NSAGENT" rotate-key) || fail "nsagent rotate-key: $out"
new=$(status_json host1 | jq -r .node.wg_public_key)
[[ $new != "$old" && ${#new} == 44 && $out == *"$new"* ]] || fail "rotate-key: '$out', status key $old -> $new"
[[ $(lab exec host1 -- cat /var/lib/nsagent/wireguard.key) != "$old_file" ]] || fail "the key file was not replaced"
[[ $(lab exec host1 -- wg show nsa-wg public-key) == "$new" ]] || fail "host1's device has not the new key"
poll 10 eval '[[ $(wg_peers host2) == "$new" ]]' || fail "host2's device has not host1's new key: $(wg_peers host2)"
wait "$pinger" || true
lost=$((1000 - $(received)))
echo "key rotation: $lost of 1000 pings lost, $(grep rtt "$DP_TMP/ping")"
# One handshake: WireGuard retries an unanswered one after 5 s (REKEY_TIMEOUT).
((lost <= 500)) || fail "key rotation lost $lost pings (more than one handshake's 5 s)"

# A peer removed by hand is put back.
key2=$(status_json host2 | jq -r .node.wg_public_key)
repairs=$(counter host1 wireguard_repairs)
lab exec host1 -- wg set nsa-wg peer "$key2" remove
poll 10 eval '[[ $(wg_peers host1) == "$key2" ]]' || fail "host2's peer not put back on host1's device"
(($(counter host1 wireguard_repairs) > repairs)) || fail "the peer came back, but no wireguard repair was counted"
lab ping --timeout 10 host1 NS1 172.16.1.2 || fail "no traffic after the peer was put back"

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
lab exec host1 -- "$NSAGENT" down || fail "nsagent down on host1"
! lab exec host1 -- ip link show nsa-wg >/dev/null 2>&1 || fail "nsa-wg left after down"
! lab exec host1 -- test -e /run/wireguard/nsa-wg.sock || fail "the UAPI socket left after down"
left=$(lab exec host1 -- sh -c 'me=$(readlink /proc/self/ns/net)
	for p in $(pgrep -x wireguard-go); do [ "$(readlink /proc/$p/ns/net)" = "$me" ] && echo $p; done; true')
[[ -z $left ]] || fail "wireguard-go left running on host1 after down: pid $left"
[[ -z $(lab exec host1 -- ip route show proto 78) && -z $(lab exec host1 -- ip -6 route show proto 78) ]] ||
	fail "routes left after down"
! nft_table host1 || fail "nft table left after down"
poll 10 eval '[[ -z $(wg_peers host2) ]]' || fail "host2's device keeps host1 as a peer after it left"
echo PASS
