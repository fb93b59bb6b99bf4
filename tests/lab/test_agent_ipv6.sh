#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Dual-stack on and off, through the real binary on one host.
#   --ipv6 off: nothing of IPv6 anywhere (no global address, no IPv6 route
#   of ours, IPv6 forwarding left as it was, no IPv6 rule in the nft
#   table), and `ns add`, the CNI result and status are the IPv4-only ones
#   exactly.
#   On (the default), after `nsagent down` on the same host: the same IPv4
#   facts byte for byte, plus the /64 (bridge ::1, namespaces' addresses
#   and default routes), and a container reaches a namespace over IPv6.
#   A new subnet moves the /64 with it: nothing of the old one is left.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${NSAGENT_CNI:?NSAGENT_CNI must name the nsagent-cni binary (ctest sets it)}"

lab_init agentipv6
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent-ipv6.$$.XXXXXX")
lab_at_exit "rm -rf '$tmp'"
lab up --hosts 1 -- --ipv6 off >/dev/null || fail "deploy/lab up --ipv6 off"
pass() { echo "ok: $*"; }

CONF='{"cniVersion":"1.0.0","name":"nsagent","type":"nsagent"}'
cni() {
	lab exec host1 -- env -i CNI_COMMAND="$1" CNI_PATH=/usr/lib/cni CNI_CONTAINERID="$2" \
		CNI_IFNAME=eth0 CNI_NETNS="$3" "$NSAGENT_CNI" <<<"$CONF"
}
# Every namespace of the host, the host's own first ("-").
spaces() { echo -; lab exec host1 -- ip netns list | awk '{print $1}' | sort; }
in_ns() {
	local ns=$1
	shift
	if [[ $ns == - ]]; then lab exec host1 -- "$@"; else lab exec host1 "$ns" -- "$@"; fi
}
# The IPv4 facts an IPv6 switch must not change: addresses, routes, the
# nft table's IPv4 rules (counters zeroed), everywhere.
ipv4_facts() {
	local ns
	for ns in $(spaces); do
		echo "== $ns"
		in_ns "$ns" ip -4 -o addr show | awk '{print $2, $4}'
		in_ns "$ns" ip -4 route show
	done
	echo "== nft"
	lab exec host1 -- nft list table inet nsagent | grep -v 'ip6\|(IPv6)' |
		sed -E 's/packets [0-9]+ bytes [0-9]+/packets 0 bytes 0/'
}

forwarding6_before=$(lab exec host1 -- cat /proc/sys/net/ipv6/conf/all/forwarding)
lab exec host1 -- ip netns add cni-c1
lab_at_exit "lab exec host1 -- ip netns del cni-c1 2>/dev/null"

# ---- --ipv6 off ----
add_off=$(lab exec host1 -- "$NSAGENT" ns add web) || fail "ns add web (--ipv6 off)"
[[ $add_off == "added namespace web with address 172.16.0.4/24" ]] ||
	fail "ns add with --ipv6 off said: $add_off"
cni_off=$(cni ADD c1 /run/netns/cni-c1) || fail "CNI ADD with --ipv6 off: $cni_off"
jq -e '(.ips | length == 1) and .routes == [{"dst": "0.0.0.0/0", "gw": "172.16.0.1"}]' \
	<<<"$cni_off" >/dev/null || fail "CNI result with --ipv6 off is not IPv4-only: $cni_off"
for ns in $(spaces); do
	global=$(in_ns "$ns" ip -6 -o addr show scope global)
	[[ -z $global ]] || fail "--ipv6 off: IPv6 address in ${ns/-/the host}: $global"
	routes=$(in_ns "$ns" ip -6 route show proto 78; in_ns "$ns" ip -6 route show default)
	[[ -z $routes ]] || fail "--ipv6 off: IPv6 route in ${ns/-/the host}: $routes"
done
[[ $(lab exec host1 -- cat /proc/sys/net/ipv6/conf/all/forwarding) == "$forwarding6_before" ]] ||
	fail "--ipv6 off changed net.ipv6.conf.all.forwarding"
lab exec host1 -- nft list table inet nsagent | grep_q 'ip6\|ipv6' &&
	fail "--ipv6 off: the nft table has IPv6 rules: $(lab exec host1 -- nft list table inet nsagent)"
st=$(lab exec host1 -- "$NSAGENT" status) || fail "status"
grep_q -E '^subnet6|IPV6|fd6e' <<<"$st" && fail "--ipv6 off: status shows IPv6: $st"
lab exec host1 -- "$NSAGENT" status --json | jq -e '.node.subnet6 == null and
	.node.bridge_ip6 == null and all(.namespaces[]; .ip6 == null)' >/dev/null ||
	fail "--ipv6 off: status --json shows IPv6"
ipv4_facts >"$tmp/off.txt"
pass "--ipv6 off: nothing of IPv6; ns add, CNI result and status IPv4-only"

# ---- on (the default), over the same state ----
lab exec host1 -- "$NSAGENT" down --config /dev/null >/dev/null || fail "nsagent down"
lab agent host1 start -- >/dev/null || fail "agent start dual-stack"
# web and c1 were kept in the state dir: web is taken away and added anew
# (it gets .4 again, the lowest free), c1's ADD is answered with what it has.
lab exec host1 -- "$NSAGENT" ns del web >/dev/null || fail "ns del web"
add_on=$(lab exec host1 -- "$NSAGENT" ns add web) || fail "ns add web (dual-stack)"
[[ $add_on == "$add_off and fd6e:7361:6765::4/64" ]] || fail "dual-stack ns add said: $add_on"
cni_on=$(cni ADD c1 /run/netns/cni-c1) || fail "CNI ADD dual-stack: $cni_on"
[[ $(jq -c '[.ips[0], .routes[0]]' <<<"$cni_on") == "$(jq -c '[.ips[0], .routes[0]]' <<<"$cni_off")" ]] ||
	fail "the IPv4 part of the CNI result changed: $cni_off -> $cni_on"
jq -e '(.ips | length == 2) and .ips[1].address == "fd6e:7361:6765::5/64" and
	.routes[1] == {"dst": "::/0", "gw": "fd6e:7361:6765::1"}' <<<"$cni_on" >/dev/null ||
	fail "dual-stack CNI result: $cni_on"
lab exec host1 -- ip -6 -o addr show dev br0 | grep_q ' fd6e:7361:6765::1/64 scope global' ||
	fail "br0 lacks fd6e:7361:6765::1/64"
for n in NS1:2 NS2:3 web:4; do
	lab exec host1 "${n%:*}" -- ip -6 -o addr show dev eth0 | grep_q " fd6e:7361:6765::${n#*:}/64 scope global" ||
		fail "${n%:*} lacks fd6e:7361:6765::${n#*:}/64"
	lab exec host1 "${n%:*}" -- ip -6 route show default | grep_q 'via fd6e:7361:6765::1 dev eth0' ||
		fail "${n%:*} has no default IPv6 route via the bridge"
done
lab exec host1 cni-c1 -- ping -6 -c1 -W5 fd6e:7361:6765::2 >/dev/null || fail "c1 cannot reach NS1 over IPv6"
ipv4_facts >"$tmp/on.txt"
diff -u "$tmp/off.txt" "$tmp/on.txt" || fail "the IPv4 facts differ between --ipv6 off and on"
pass "dual-stack: the same IPv4 facts, plus the /64"

# ---- a new subnet moves the /64 ----
lab agent host1 restart -- --subnet 172.16.9.0/24 >/dev/null || fail "restart with a new subnet"
lab wait --timeout 30 host1 -- sh -c 'ip -6 -o addr show dev br0 | grep -q " fd6e:7361:6765:9::1/64 "' ||
	fail "br0 did not get fd6e:7361:6765:9::1/64: $(lab exec host1 -- ip -6 -o addr show dev br0)"
lab wait --timeout 30 host1 NS1 -- sh -c 'ip -6 -o addr show dev eth0 | grep -q " fd6e:7361:6765:9::2/64 "' ||
	fail "NS1 did not move to fd6e:7361:6765:9::2/64"
lab wait --timeout 30 host1 NS1 -- sh -c 'ip -6 route show default | grep -q "via fd6e:7361:6765:9::1"' ||
	fail "NS1's default IPv6 route did not move"
for ns in - NS1 NS2; do
	old=$(in_ns "$ns" ip -6 -o addr show | grep 'fd6e:7361:6765::' || true)
	[[ -z $old ]] || fail "the old /64 is left in ${ns/-/the host}: $old"
done
lab exec host1 NS1 -- ping -6 -c1 -W5 fd6e:7361:6765:9::3 >/dev/null || fail "NS1 cannot reach NS2 in the new /64"
pass "a new subnet moves the /64"
echo PASS
