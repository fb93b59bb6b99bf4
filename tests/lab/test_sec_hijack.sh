#!/usr/bin/env bash
# Hijack adverts: a fake peer (fakepeer, from host2's namespace, claiming
# node IP 192.168.1.200) establishes a session with host1 and announces
# 0.0.0.0/0, host2's subnet, host1's own subnet, a host network of host1
# (an address it has inside the cluster range), the underlay network and
# 1,000 subnets. host1's routing tables must not change at all, every
# entry must be rejected with a log line naming the reason, and the fake
# session must stay up (the rest of a message applies, the session lives).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

lab_init sec_hijack
lab up --hosts 2 --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer"

# A host network inside the cluster range: an address on a veth in host1.
lab exec host1 -- ip link add sec0 type veth peer name sec1
lab exec host1 -- ip addr add 172.16.250.1/24 dev sec0
lab exec host1 -- ip link set sec0 up
lab agent host1 restart >/dev/null || fail "restart host1"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer again"

before=$(routes_json host1)
mark=$(log_lines host1)

fakepeer host2 session --connect 192.168.1.5:7470 --node-ip 192.168.1.200 --hold 3 \
	--advert 0.0.0.0/0 --advert 172.16.1.0/24 --advert 172.16.0.0/24 \
	--advert 172.16.250.0/24 --advert 192.168.1.0/24 --advert 172.16.1.128/25 ||
	fail "fake session with hijack adverts did not stay up (exit $?)"
fakepeer host2 session --connect 192.168.1.5:7470 --node-ip 192.168.1.201 --hold 2 \
	--many-base 172.16.1.0 --advert-many 1000 ||
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
	"advertised subnet 172.16.1.128/25 rejected: overlaps a subnet another live node owns" \
	"advertised subnet 172.16.0.0/24 rejected: overlaps this host's own networks" \
	"advertised subnet 172.16.250.0/24 rejected: overlaps this host's own networks" \
	"advertised subnet 192.168.1.0/24 rejected: outside the cluster range" \
	"984 advertised subnet(s) rejected: too many subnets"; do
	grep -qF -- "$want" <<<"$log" || fail "host1's log lacks '$want'"
done
# and the real mesh is intact
poll 10 mesh_ready 2 || fail "host1 and host2 lost their session"
echo PASS
