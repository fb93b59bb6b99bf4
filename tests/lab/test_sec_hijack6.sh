#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Hostile IPv6 adverts: a fake peer (fakepeer, from host2's namespace, node
# IP 192.168.1.200, an address of host2 it connects from) announces beside
# its own IPv4 subnet and /64: ::/0, host2's /64, host1's own /64,
# link-local and multicast prefixes, a prefix outside the cluster's IPv6
# range, a /56, a /64 with host bits, a length over 128 and addresses that
# are not 16 bytes. host1 installs only the fake peer's own /64 (via the
# link-local next hop it advertised), counts every other entry under its
# reason in adverts6_rejected (IPv4's adverts_rejected untouched), logs
# each, and the fake session stays up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

lab_init sec_hijack6
lab up --hosts 2 --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer"
lab exec host2 -- ip addr add 192.168.1.200/24 dev eth0
route6() { lab exec host1 -- ip -6 route show proto nsagent; }
poll 30 sh -c "'$LABCTL' exec host1 -- ip -6 route show proto nsagent | grep -q '^fd6e:7361:6765:1::/64 via fe80:'" ||
	fail "host1 has no IPv6 route to host2: $(route6 host1)"
before=$(route6)
mark=$(log_lines host1)

fakepeer host2 session --connect 192.168.1.5:7470 --node-ip 192.168.1.200 --from 192.168.1.200 \
	--hold 4 --advert 172.16.77.0/24 --link-local6 fe80::200 \
	--advert6 fd6e:7361:6765:4d::/64 --advert6 ::/0 --advert6 fd6e:7361:6765:1::/64 \
	--advert6 fd6e:7361:6765::/64 --advert6 fe80::/64 --advert6 ff02::/64 \
	--advert6 fd00:9::/64 --advert6 fd6e:7361:6765:500::/56 --advert6 fd6e:7361:6765:7::1/64 \
	--advert6 fd6e:7361:6765:8::/200 --advert6-short 2 >"$NSAGENT_LAB.fake" 2>&1 &
fake=$!
lab_at_exit "rm -f '$NSAGENT_LAB.fake'"
has_fake_route() { route6 | grep_q '^fd6e:7361:6765:4d::/64 via fe80::200 dev eth0'; }
poll 30 has_fake_route || fail "host1 has no route to the fake peer's own /64: $(route6)"
wait "$fake" || fail "the fake session did not stay up (exit $?): $(cat "$NSAGENT_LAB.fake")"

after=$(route6)
[[ $(grep -v '^fd6e:7361:6765:4d::/64' <<<"$after") == "$before" ]] || fail "host1's IPv6 routes changed:
before: $before
after:  $after"
for want in default_route:1 owned:1 local:1 special:2 outside_cluster:1 length:1 malformed:4; do
	got=$(counter host1 adverts6_rejected "${want%:*}")
	[[ $got == "${want#*:}" ]] || fail "adverts6_rejected{${want%:*}} is $got, want ${want#*:}"
done
for r in default_route owned local special outside_cluster length malformed; do
	[[ $(counter host1 adverts_rejected "$r") == 0 ]] || fail "IPv4's adverts_rejected{$r} moved"
done
log=$(log_since host1 "$mark")
for want in \
	"advertised IPv6 subnet ::/0 rejected: default route" \
	"advertised IPv6 subnet fd6e:7361:6765:1::/64 rejected: overlaps a subnet another live node owns" \
	"advertised IPv6 subnet fd6e:7361:6765::/64 rejected: overlaps this host's own networks" \
	"advertised IPv6 subnet fe80::/64 rejected: in a special-purpose range" \
	"advertised IPv6 subnet ff02::/64 rejected: in a special-purpose range" \
	"advertised IPv6 subnet fd00:9::/64 rejected: outside the cluster range" \
	"advertised IPv6 subnet fd6e:7361:6765:500::/56 rejected: not the cluster's node-subnet length (/64)" \
	"advertised IPv6 subnet fd6e:7361:6765:7::1/64 rejected: malformed" \
	"3 advertised IPv6 subnet(s) rejected: malformed (address not 16 bytes or prefix length over 128)"; do
	grep -qF -- "$want" <<<"$log" || fail "host1's log lacks '$want'"
done
agent_alive host1 || fail "host1's agent died"
# the real peer is intact (the fake one's routes stay, stale, for the
# restart time: it left without a goodbye)
routes host1 | grep_q '^172.16.1.0/24 via 192.168.1.6$' || fail "host1 lost host2's route: $(routes host1)"
[[ $(peer_field host1 192.168.1.6 route6) == installed ]] || fail "host1 lost host2's /64"
echo PASS
