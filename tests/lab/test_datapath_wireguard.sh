#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --backend wireguard (issue 19), 2 hosts on one switch, with a cluster
# key: every peer goes through nsa-wg (wireguard-go, run by the agent),
# both families. NS1 <-> NS1 both ways over IPv4 and IPv6: full-size DF
# pings and 4 MiB of TCP each way. A capture on host1's switch port
# (tcpdump) shows the data as UDP to or from the WireGuard port between
# the two node addresses only, and no packet whose addresses are in the
# cluster ranges. wg(8) (wireguard-tools, a client nobody here wrote)
# lists host2's public key, as host2's status gives it, with a recent
# handshake and host2's node address as endpoint; host1's status shows
# mode wireguard, why, the handshake and bytes, and its key (never the
# private one), and that this kernel (no WireGuard module) made the agent
# take the userspace WireGuard. The device's MTU and the namespaces' are
# the underlay's less 60, and WireGuard's UDP is not connection-tracked.
# shellcheck disable=SC2015 # "A && B || fail" is meant
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
source "$(dirname "$0")/wg_lib.sh"
datapath_init dp_wireguard

(umask 077 && "$NSAGENT" genkey >"$DP_TMP/cluster.key")
lab up --hosts 2 -- --backend wireguard --key-file "$DP_TMP/cluster.key" >/dev/null ||
	fail "deploy/lab up --backend wireguard"
poll 30 mesh_ready 2 || fail "no session between host1 and host2"
for h in host1:192.168.1.6 host2:192.168.1.5; do
	poll 30 peer_is "${h%%:*}" "${h#*:}" mode wireguard ||
		fail "${h%%:*}: peer ${h#*:} not in mode wireguard: $(peer_field "${h%%:*}" "${h#*:}" mode)"
	poll 30 peer_is "${h%%:*}" "${h#*:}" mode6 wireguard ||
		fail "${h%%:*}: peer ${h#*:} not in IPv6 mode wireguard"
done
rt=$(lab exec host1 -- ip route show proto nsagent)
grep_q '^172.16.1.0/24 via 192.168.1.6 dev nsa-wg .*onlink' <<<"$rt" || fail "host1's route: $rt"
rt6=$(lab exec host1 -- ip -6 route show proto nsagent)
grep_q '^fd6e:7361:6765:1::/64 via fe80::7767:c0a8:106 dev nsa-wg' <<<"$rt6" ||
	fail "host1's IPv6 route: $rt6"
wg_device host1 1440 ip 192.168.1.5

# The capture, on the switch side of host1's port, while the traffic runs.
capture_start switch host1 || fail "no capture on the switch"

for a in 172.16.1.2 fd6e:7361:6765:1::2; do
	full_size host1 NS1 "$a" || fail "full-size DF ping host1 NS1 -> $a"
done
for a in 172.16.0.2 fd6e:7361:6765::2; do
	full_size host2 NS1 "$a" || fail "full-size DF ping host2 NS1 -> $a"
done
out=$(bulk host1 NS1 host2 NS1 172.16.1.2) || fail "bulk TCP host1 -> host2: $out"
out=$(bulk host2 NS1 host1 NS1 172.16.0.2) || fail "bulk TCP host2 -> host1: $out"
out=$(bulk host1 NS1 host2 NS1 fd6e:7361:6765:1::2) || fail "bulk TCP/IPv6 host1 -> host2: $out"
out=$(bulk host2 NS1 host1 NS1 fd6e:7361:6765::2) || fail "bulk TCP/IPv6 host2 -> host1: $out"
capture_stop
wg_only_on_switch 192.168.1.5 192.168.1.6 51820 $((4 * BULK_BYTES))

# wg(8) on host1: host2's key (as host2 says), endpoint, a recent handshake.
key2=$(status_json host2 | jq -r .node.wg_public_key)
[[ ${#key2} == 44 ]] || fail "host2's status has no WireGuard public key: '$key2'"
status_json host2 | grep_q "$(lab exec host2 -- cat /var/lib/nsagent/wireguard.key)" &&
	fail "host2's status shows its private key"
wg_show_peer host1 "$key2" 192.168.1.6:51820 "172.16.1.0/24 fd6e:7361:6765:1::/64"
# host1's status: the same facts, and why.
p=$(status_json host1 | jq -c '.peers[] | select(.address == "192.168.1.6")')
[[ $(jq -r .mode_reason <<<"$p") == "--backend wireguard; encrypted" ]] || fail "why: $p"
[[ $(jq -r '.wireguard.last_handshake_ms' <<<"$p") -lt 180000 ]] || fail "handshake in status: $p"
(($(jq -r '.wireguard.rx_bytes' <<<"$p") > 4 * 1024 * 1024)) || fail "bytes in status: $p"
lab exec host1 -- "$NSAGENT" status | grep_q "^wireguard  .* port 51820, userspace (wireguard-go)$" ||
	fail "status text: no wireguard row with its implementation: $(lab exec host1 -- "$NSAGENT" status | grep ^wireguard)"
# This kernel has no WireGuard: the agent took the userspace one, said so.
[[ $(status_json host1 | jq -r .node.wg_impl) == "userspace (wireguard-go)" ]] ||
	fail "status --json wg_impl: $(status_json host1 | jq -c .node)"
logs host1 'nsa-wg is userspace: the kernel has no WireGuard' ||
	fail "the log does not say why userspace: $(log_last host1 | grep -i 'WireGuard: nsa-wg is')"
echo PASS
