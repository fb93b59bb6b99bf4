#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Hijack adverts: a fake peer (fakepeer, from host2's namespace, with node
# IP 192.168.1.200, an address of host2 it connects from) establishes a
# session with host1 and announces 0.0.0.0/0, host2's subnet, host1's own
# subnet, a host network of host1 (an address it has inside the cluster
# range), the underlay network, prefixes of other lengths than a node
# subnet (/17, /25) and 1,000 subnets. host1's routing tables must not
# change at all, every entry must be rejected with a log line naming the
# reason, and the fake session must stay up (the rest of a message
# applies, the session lives).
# Then the wide-prefix hijack end to end: a fake peer announcing
# 172.16.128.0/17 beside its own /24 gets only the /24 routed, and host3,
# joining afterwards with 172.16.200.0/24 (inside the /17), gets its route.
# Last, a fake peer whose hello names a node IP other than the address it
# connects from (no cluster key) is refused and gets no route. host1's
# metrics count both kinds of refusal.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

lab_init sec_hijack
lab up --hosts 3 --no-agent --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"
lab agent host1 start -- --metrics 127.0.0.1:9470 >/dev/null || fail "start host1"
lab agent host2 start >/dev/null || fail "start host2"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer"

# A host network inside the cluster range: an address on a veth in host1
# (in the lower half of the range, out of the /17 hijack below).
lab exec host1 -- ip link add sec0 type veth peer name sec1
lab exec host1 -- ip addr add 172.16.100.1/24 dev sec0
lab exec host1 -- ip link set sec0 up
lab agent host1 restart >/dev/null || fail "restart host1"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer again"
# The fake peers' node IPs are host2's own: without a cluster key a node
# IP is taken only from the address a session comes from.
lab exec host2 -- ip addr add 192.168.1.200/24 dev eth0
lab exec host2 -- ip addr add 192.168.1.201/24 dev eth0

before=$(routes_json host1)
mark=$(log_lines host1)

fakepeer host2 session --connect 192.168.1.5:7470 --node-ip 192.168.1.200 --from 192.168.1.200 \
	--hold 3 --advert 0.0.0.0/0 --advert 172.16.1.0/24 --advert 172.16.0.0/24 \
	--advert 172.16.100.0/24 --advert 192.168.1.0/24 --advert 172.16.1.128/25 \
	--advert 172.16.128.0/17 ||
	fail "fake session with hijack adverts did not stay up (exit $?)"
fakepeer host2 session --connect 192.168.1.5:7470 --node-ip 192.168.1.201 --from 192.168.1.201 \
	--hold 2 --many-base 172.16.1.0 --advert-many 1000 ||
	fail "fake session with 1,000 subnets did not stay up (exit $?)"

after=$(routes_json host1)
[[ $before == "$after" ]] || fail "host1's routes changed:
before: $before
after:  $after"
agent_alive host1 || fail "host1's agent died"

log=$(log_since host1 "$mark")
for want in \
	"advertised subnet 0.0.0.0/0 rejected: default route" \
	"advertised subnet 172.16.1.0/24 rejected: overlaps a subnet another live node owns" \
	"advertised subnet 172.16.1.128/25 rejected: not the cluster's node-subnet length (/24)" \
	"advertised subnet 172.16.128.0/17 rejected: not the cluster's node-subnet length (/24)" \
	"advertised subnet 172.16.0.0/24 rejected: overlaps this host's own networks" \
	"advertised subnet 172.16.100.0/24 rejected: overlaps this host's own networks" \
	"advertised subnet 192.168.1.0/24 rejected: outside the cluster range" \
	"984 advertised subnet(s) rejected: too many subnets"; do
	grep -qF -- "$want" <<<"$log" || fail "host1's log lacks '$want'"
done
# and the real mesh is intact
poll 30 mesh_ready 2 || fail "host1 and host2 lost their session"

# ---- the wide-prefix hijack, then the real owner joins ----
has_route() { # HOST PREFIX GATEWAY
	[[ $(lab exec "$1" -- ip -o route show "$2" proto nsagent) == *"via $3 "* ]]
}
mark=$(log_lines host1)
fake_out=$(mktemp)
lab_at_exit 'rm -f "$fake_out"'
fakepeer host2 session --connect 192.168.1.5:7470 --node-ip 192.168.1.200 --from 192.168.1.200 \
	--hold 20 --advert 172.16.128.0/17 --advert 172.16.77.0/24 >"$fake_out" 2>&1 &
fake=$!
poll 30 has_route host1 172.16.77.0/24 192.168.1.200 ||
	fail "host1 has no route to the fake peer's own 172.16.77.0/24: $(routes host1)"
[[ -z $(lab exec host1 -- ip route show 172.16.128.0/17) ]] ||
	fail "host1 installed the hijacking /17: $(routes host1)"
lab agent host3 start --bare -- --node-ip 192.168.1.7 --subnet 172.16.200.0/24 \
	--peer 192.168.1.5 >/dev/null || fail "start host3"
poll 20 has_route host1 172.16.200.0/24 192.168.1.7 ||
	fail "host1 has no route to host3's 172.16.200.0/24 (the /17 held it?): $(routes host1)
$(log_since host1 "$mark" | grep -F 172.16.200.0/24 || true)"
poll 20 has_route host3 172.16.0.0/24 192.168.1.5 || fail "host3 has no route to host1: $(routes host3)"
log_since host1 "$mark" |
	grep_q "advertised subnet 172.16.128.0/17 rejected: not the cluster's node-subnet length" ||
	fail "host1 did not log the /17's rejection"
wait "$fake" || fail "the fake peer's session did not stay up (exit $?): $(<"$fake_out")"
[[ -z $(lab exec host1 -- ip route show 172.16.128.0/17) ]] || fail "the /17 was installed later"

# ---- a node IP that is not the session's source ----
mark=$(log_lines host1)
rc=0
out=$(fakepeer host2 session --connect 192.168.1.5:7470 --node-ip 192.168.1.210 --hold 2 \
	--advert 172.16.210.0/24) || rc=$?
[[ $rc == 4 ]] || fail "fake peer claiming node IP 192.168.1.210 from 192.168.1.6 was not refused: exit $rc, $out"
log_since host1 "$mark" |
	grep_q "node IP 192.168.1.210 is not the session's source address 192.168.1.6" ||
	fail "host1 did not log the spoofed node IP with both addresses: $(log_since host1 "$mark" | tail -n 5)"
[[ -z $(lab exec host1 -- ip route show 172.16.210.0/24) ]] || fail "a route via the spoofed node IP"
agent_alive host1 || fail "host1's agent died"

metrics=$(lab exec host1 -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics) ||
	fail "no metrics from host1"
sample() { awk -v s="$1" '$1 == s {print $2}' <<<"$metrics"; }
# since host1's restart: the /25 and /17 of the first session, the /17 of the second
length=$(sample 'nsagent_adverts_rejected_total{reason="length"}')
((${length:-0} >= 3)) || fail "adverts rejected for their length: '${length}', want at least 3"
refused=$(sample nsagent_hellos_refused_total)
((${refused:-0} >= 1)) || fail "hellos refused: '${refused}', want at least 1"
echo PASS
