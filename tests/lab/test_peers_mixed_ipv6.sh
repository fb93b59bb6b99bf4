#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A mixed cluster, 3 hosts, host3 with --ipv6 off (what an older agent
# looks like too: no /64 in its adverts): IPv4 routes everywhere, IPv6
# routes between host1 and host2 only, host3 has none and is given none,
# and nothing is logged as an error or a warning about it, nor counted as
# a rejected advert, on any of the three.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

lab_init peers_mixed_ipv6
lab up --hosts 3 --no-agent --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"
lab agent host1 start >/dev/null || fail "start host1"
lab agent host2 start >/dev/null || fail "start host2"
lab agent host3 start -- --ipv6 off >/dev/null || fail "start host3 with --ipv6 off"
poll 60 mesh_ready 3 || fail "no IPv4 mesh of 3 hosts: $(routes host1); $(routes host3)"

route6() { lab exec "$1" -- ip -6 route show proto nsagent; }
has_route6() { route6 "$1" | grep_q "^$2 via fe80:[0-9a-f:]* dev eth0"; }
poll 30 has_route6 host1 fd6e:7361:6765:1::/64 || fail "host1 has no IPv6 route to host2: $(route6 host1)"
poll 30 has_route6 host2 fd6e:7361:6765::/64 || fail "host2 has no IPv6 route to host1: $(route6 host2)"
[[ $(route6 host1 | grep -c .) == 1 && $(route6 host2 | grep -c .) == 1 ]] ||
	fail "an IPv6 route to host3, which has no /64: host1: $(route6 host1); host2: $(route6 host2)"
[[ -z $(route6 host3) ]] || fail "host3 (--ipv6 off) has IPv6 routes: $(route6 host3)"
[[ -z $(peer_field host1 192.168.1.7 subnet6) && $(peer_field host1 192.168.1.7 route6) == none ]] ||
	fail "host1's status of host3: $(status_json host1 | jq -c '.peers[] | select(.address == "192.168.1.7")')"
[[ $(peer_field host3 192.168.1.5 route6) == none ]] || fail "host3 took host1's /64"
echo "ok: IPv4 everywhere, IPv6 between host1 and host2 only"

lab ping host1 NS1 172.16.2.2 || fail "IPv4 host1 -> host3"
lab ping host3 NS1 172.16.1.2 || fail "IPv4 host3 -> host2"
poll 30 lab exec host1 NS1 -- ping -6 -n -c 1 -W 1 fd6e:7361:6765:1::2 || fail "IPv6 host1 -> host2"
echo "ok: traffic"

for h in host1 host2 host3; do
	# (the lab runs without a cluster key, which is warned about loudly)
	bad=$(log_last "$h" | grep -E ' (error|warn): ' | grep -v 'NO CLUSTER KEY' || true)
	[[ -z $bad ]] || fail "$h logged: $bad"
	for fam in adverts_rejected adverts6_rejected frames_malformed hellos_refused; do
		sum=$(status_json "$h" | jq "[.counters.$fam | if type == \"object\" then .[] else . end] | add")
		[[ $sum == 0 ]] || fail "$h counted $sum $fam"
	done
done
echo "ok: no error, no warning, nothing rejected"
echo PASS
