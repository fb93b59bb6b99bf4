#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Mixed underlay families, 2 hosts on one dual-stack segment (deploy/lab up
# --underlay dual): host1's node address is IPv4 (192.168.1.5), host2's
# IPv6 (2001:db8:1::6). With a cluster key (a session's source address need
# not be its node address) they hold a session, but neither underlay can
# carry the other's routes: no route either way in either family, status
# says mode "none" for the peer, each logs one clear line naming the
# families, and both agents keep running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

lab_init underlay_mixed
keys=$(mktemp -d /tmp/nsagent-mixed.XXXXXX)
lab_at_exit "rm -rf '$keys'"
(umask 077 && "$NSAGENT" genkey >"$keys/cluster.key")
lab up --hosts 2 --underlay dual --no-agent >/dev/null || fail "deploy/lab up --underlay dual"
lab agent host1 start -- --key-file "$keys/cluster.key" >/dev/null || fail "start host1 (IPv4)"
lab agent host2 start --bare -- --node-ip 2001:db8:1::6 --subnet 172.16.1.0/24 \
	--peer 192.168.1.5 --key-file "$keys/cluster.key" >/dev/null || fail "start host2 (IPv6)"

poll 30 peer_is host1 2001:db8:1::6 state established ||
	fail "no session host1 -> host2: $(status_json host1 | jq -c .peers)"
poll 30 peer_is host2 192.168.1.5 state established ||
	fail "no session host2 -> host1: $(status_json host2 | jq -c .peers)"
poll 30 peer_is host1 2001:db8:1::6 mode none || fail "host1's status of host2: $(status_json host1 | jq -c .peers)"
poll 30 peer_is host2 192.168.1.5 mode none || fail "host2's status of host1: $(status_json host2 | jq -c .peers)"
for h in host1 host2; do
	[[ -z $(lab exec "$h" -- ip route show proto nsagent) &&
		-z $(lab exec "$h" -- ip -6 route show proto nsagent) ]] ||
		fail "$h has routes across underlay families: $(lab exec "$h" -- ip route show proto nsagent)"
	[[ $(status_json "$h" | jq -r '.peers[0] | "\(.route) \(.route6)"') == "none none" ]] ||
		fail "$h's status: $(status_json "$h" | jq -c '.peers[0]')"
done
echo "ok: a session, and no route either way"

poll 30 logs host1 'no route to it: node address 2001:db8:1::6: its node address is IPv6 and ours IPv4' ||
	fail "host1 did not say why: $(log_last host1 | grep -i 'route' | tail -3)"
poll 30 logs host2 'no route to it: node address 192.168.1.5: its node address is IPv4 and ours IPv6' ||
	fail "host2 did not say why"
[[ $(log_last host1 | grep -c 'no route to it') == 1 ]] || fail "host1 said it more than once"
st=$(lab exec host1 -- "$NSAGENT" status) || fail "status"
grep_q -E " \[2001:db8:1::6\]:7470 +established +none " <<<"$st" || fail "status text: $st"
echo "ok: one clear log line each, status mode none"

for h in host1 host2; do
	lab exec "$h" -- "$NSAGENT" status >/dev/null || fail "$h's agent is gone"
done
echo PASS
