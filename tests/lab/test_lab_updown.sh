#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The lab itself: `deploy/lab up` builds two hosts whose agents make NS1 and
# NS2 reach each other, and `deploy/lab down` leaves the machine's root
# network namespace byte-identical and nothing under /run/nsagent-lab/NAME.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Less what changes on its own: a dynamic address's remaining lifetimes
# (DHCP, SLAAC) count down, and rule counters count the machine's traffic
# (nft -s leaves them out).
root_state() {
	ip -o link
	ip -o addr | sed -E 's/ +valid_lft [^ ]+ preferred_lft [^ ]+//'
	ip route
	ip netns list
	nft -s list ruleset
	cat /proc/sys/net/ipv4/ip_forward
}

lab_init updown
before=$(root_state)

lab up --hosts 2 --name "$NSAGENT_LAB" || fail "deploy/lab up"

for host in host1 host2; do
	case $host in
	host1) net=172.16.0 ;;
	host2) net=172.16.1 ;;
	esac
	lab ping --timeout 30 "$host" NS1 "$net.3" || fail "$host: NS1 cannot ping NS2 ($net.3)"
	# Each host is a machine of its own: its own NS1 with its own address.
	lab exec "$host" NS1 -- ip -4 -o addr show dev eth0 | grep_q " $net.2/24 " ||
		fail "$host: NS1 is not $net.2/24"
done
lab exec host1 -- ip -4 -o addr show dev eth0 | grep_q ' 192.168.1.5/24 ' ||
	fail "host1 eth0 is not 192.168.1.5/24"
lab exec host1 -- ping -c 1 -W 2 192.168.1.6 >/dev/null ||
	fail "host1 cannot reach host2 on the underlay"
lab agent host1 pid >/dev/null || fail "host1 agent not running"

lab down --name "$NSAGENT_LAB" || fail "deploy/lab down (3 = sanitizer report from an agent)"
[[ ! -e /run/nsagent-lab/$NSAGENT_LAB ]] || fail "/run/nsagent-lab/$NSAGENT_LAB left behind"
if grep -q " /run/nsagent-lab/${NSAGENT_LAB}[ /]" /proc/self/mountinfo; then
	fail "mounts of /run/nsagent-lab/$NSAGENT_LAB left behind"
fi
after=$(root_state)
[[ $before == "$after" ]] || {
	diff -u <(echo "$before") <(echo "$after") >&2 || true
	fail "the root network namespace changed"
}
lab down || fail "a second down (down must be idempotent)"
echo PASS
