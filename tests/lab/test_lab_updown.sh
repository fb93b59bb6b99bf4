#!/usr/bin/env bash
# The lab itself: `deploy/lab up` builds two hosts whose agents make NS1 and
# NS2 reach each other, and `deploy/lab down` leaves the machine's root
# network namespace byte-identical and nothing under /run/nsagent-lab/NAME.
set -euo pipefail

src=${NSAGENT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${NSAGENT:?NSAGENT must name the nsagent binary}"
export NSAGENT
lab=updown$$
labctl() { "$src/deploy/lab" "$@"; }

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

root_state() {
	ip -o link
	ip -o addr
	ip route
	ip netns list
	nft list ruleset
	cat /proc/sys/net/ipv4/ip_forward
}

before=$(mktemp)
after=$(mktemp)
trap 'labctl down --name "$lab" >/dev/null 2>&1 || true; rm -f "$before" "$after"' EXIT
root_state >"$before"

labctl up --hosts 2 --name "$lab" || fail "deploy/lab up"

for host in host1 host2; do
	case $host in
	host1) net=172.16.0 ;;
	host2) net=172.16.1 ;;
	esac
	labctl ping --name "$lab" --timeout 30 "$host" NS1 "$net.3" ||
		fail "$host: NS1 cannot ping NS2 ($net.3)"
	# Each host is a separate machine: its own NS1, its own eth0 address.
	labctl exec --name "$lab" "$host" NS1 -- ip -4 -o addr show dev eth0 |
		grep -q " $net.2/24 " || fail "$host: NS1 is not $net.2/24"
done
labctl exec --name "$lab" host1 -- ip -4 -o addr show dev eth0 | grep -q ' 192.168.1.5/24 ' ||
	fail "host1 eth0 is not 192.168.1.5/24"
labctl exec --name "$lab" host1 -- ping -c 1 -W 2 192.168.1.6 >/dev/null ||
	fail "host1 cannot reach host2 on the underlay"
labctl agent --name "$lab" host1 pid >/dev/null || fail "host1 agent not running"

labctl down --name "$lab" || fail "deploy/lab down (a sanitizer report from an agent?)"
[[ ! -e /run/nsagent-lab/$lab ]] || fail "/run/nsagent-lab/$lab left behind"
if grep -q " /run/nsagent-lab/${lab}[ /]" /proc/self/mountinfo; then
	fail "mounts of /run/nsagent-lab/$lab left behind"
fi
root_state >"$after"
diff -u "$before" "$after" || fail "the root network namespace changed"
# down is idempotent.
labctl down --name "$lab" || fail "second down"
echo "PASS"
