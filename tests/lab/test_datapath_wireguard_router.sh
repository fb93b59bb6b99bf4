#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --encrypt routed (issue 19) in the router topology, 4 hosts (host1,
# host3 on 192.168.1.0/24; host2, host4 on 192.168.2.0/24), --backend
# auto: peers on the same segment stay direct and unencrypted, peers
# behind the router go through WireGuard, and status says which and why.
# A capture on host1's switch port: NS1@host1 -> NS1@host3 is seen in
# clear (its cluster addresses), NS1@host1 -> NS1@host2 only as UDP to
# or from the WireGuard port between the node addresses. Every namespace
# reaches every other, full-size DF pings and TCP cross both kinds of
# path, and nothing goes over VXLAN.
# shellcheck disable=SC2015 # "A && B || fail" is meant
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
datapath_init dp_wg_router

n=4
lab up --topology router --hosts "$n" -- --encrypt routed >/dev/null ||
	fail "deploy/lab up --topology router -- --encrypt routed"
poll 60 mesh_ready "$n" || fail "no full mesh of $n hosts across the router"

ip_of() { echo "192.168.$((2 - $1 % 2)).$((4 + $1))"; }
for ((i = 1; i <= n; i++)); do
	for ((j = 1; j <= n; j++)); do
		((i != j)) || continue
		if (((i - j) % 2 == 0)); then mode=direct; else mode=wireguard; fi
		poll 30 peer_is "host$i" "$(ip_of "$j")" mode "$mode" ||
			fail "host$i: host$j not in mode $mode: $(peer_field "host$i" "$(ip_of "$j")" mode)"
		poll 30 peer_is "host$i" "$(ip_of "$j")" mode6 "$mode" ||
			fail "host$i: host$j not in IPv6 mode $mode: $(peer_field "host$i" "$(ip_of "$j")" mode6)"
	done
done
why=$(peer_field host1 192.168.2.6 mode_reason)
[[ $why == "auto: behind gateway 192.168.1.1 on eth0; --encrypt routed; encrypted" ]] ||
	fail "host1's reason for host2: '$why'"
why=$(peer_field host1 192.168.1.7 mode_reason)
[[ $why == "auto: on-link on eth0" ]] || fail "host1's reason for host3: '$why'"
lab exec host1 -- "$NSAGENT" status | grep_q 'wireguard  auto: behind gateway 192.168.1.1 on eth0; --encrypt routed; encrypted' ||
	fail "status text does not say why host2 is encrypted"
rt=$(lab exec host1 -- ip route show proto nsagent)
grep_q '^172.16.1.0/24 via 192.168.2.6 dev nsa-wg .*onlink' <<<"$rt" &&
	grep_q '^172.16.2.0/24 via 192.168.1.7 dev eth0' <<<"$rt" ||
	fail "host1's routes: $rt"
! lab exec host1 -- ip link show nsa-vxlan >/dev/null 2>&1 || fail "a VXLAN device on host1"
[[ $(lab exec host1 -- wg show nsa-wg peers | grep -c .) == 2 ]] ||
	fail "host1's device does not have exactly the 2 routed peers: $(lab exec host1 -- wg show nsa-wg)"

capture_start switch1 host1 || fail "no capture on switch1"
for ((j = 2; j <= n; j++)); do
	for a in "172.16.$((j - 1)).2" "fd6e:7361:6765:$((j - 1))::2"; do
		full_size host1 NS1 "$a" || fail "full-size DF ping NS1@host1 -> $a"
	done
done
out=$(bulk host1 NS1 host2 NS1 172.16.1.2) || fail "bulk TCP through WireGuard: $out"
out=$(bulk host3 NS2 host1 NS2 172.16.0.3) || fail "bulk TCP direct: $out"
capture_stop
(($(captured 'host 172.16.0.2 and host 172.16.2.2 and icmp') >= 4)) ||
	fail "the direct path to host3 is not seen in clear on the switch"
(($(captured 'net 172.16.1.0/24 or net 172.16.3.0/24 or net fd6e:7361:6765:1::/64 or net fd6e:7361:6765:3::/64') == 0)) ||
	fail "traffic to the routed peers' subnets seen in clear on the switch"
(($(captured 'udp and host 192.168.1.5 and host 192.168.2.6 and port 51820') > 4 * 1024 * 1024 / 1500)) ||
	fail "too few WireGuard packets to host2 on the switch"

# Every namespace reaches every other.
for ((i = 1; i <= n; i++)); do
	for ((j = 1; j <= n; j++)); do
		((i != j)) || continue
		lab ping --timeout 10 "host$i" NS1 "172.16.$((j - 1)).3" ||
			fail "NS1@host$i cannot reach NS2@host$j"
	done
done
echo PASS
