#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runtime namespaces: `nsagent ns add` makes a namespace that is on the
# bridge and reachable from the host's other namespaces at once, keeps it
# (and its address) across an agent restart, never hands a held address to
# another namespace, and `ns del` removes it from the kernel.
# Across nodes: host2's namespaces reach the added one over host1's route,
# and the status of host1 shows host2 as an established peer with its route.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

lab_init
lab up --hosts 2 >/dev/null || fail "deploy/lab up"
ns() { lab exec host1 -- "$NSAGENT" ns "$@"; }
has_netns() { lab exec host1 -- ip netns list | grep_q "^$1\b"; }

out=$(ns add web) || fail "ns add web exited $?"
# Dual-stack (the default): both addresses, the same host part.
[[ $out == "added namespace web with address 172.16.0.4/24 and fd6e:7361:6765::4/64" ]] ||
	fail "ns add said: $out"
has_netns web || fail "web is not in ip netns"
lab exec host1 web -- ip -4 -o addr show dev eth0 | grep_q ' 172.16.0.4/24 ' ||
	fail "web's eth0 is not 172.16.0.4/24"
lab exec host1 web -- ip -6 -o addr show dev eth0 | grep_q ' fd6e:7361:6765::4/64 scope global' ||
	fail "web's eth0 lacks fd6e:7361:6765::4/64: $(lab exec host1 web -- ip -6 -o addr)"
lab exec host1 web -- ip -6 route show default | grep_q '^default via fd6e:7361:6765::1 dev eth0' ||
	fail "web has no default IPv6 route via the bridge: $(lab exec host1 web -- ip -6 route)"
lab exec host1 web -- ping -6 -c1 -W5 fd6e:7361:6765::2 >/dev/null || fail "web cannot reach NS1 over IPv6"
lab ping --timeout 10 host1 NS1 172.16.0.4 || fail "NS1 cannot reach web"
lab ping --timeout 10 host1 web 172.16.0.3 || fail "web cannot reach NS2"
lab ping --timeout 30 host2 NS1 172.16.0.4 || fail "host2's NS1 cannot reach web on host1"
lab ping --timeout 30 host1 web 172.16.1.2 || fail "web cannot reach host2's NS1"
lab exec host1 -- "$NSAGENT" status --json | jq -e '.peers | map(select(.address == "192.168.1.6"))[0] |
	.state == "established" and .subnet == "172.16.1.0/24" and .route == "installed" and
	(.node_id | type == "string")' >/dev/null ||
	fail "host1's status lacks host2 as an established peer: $(lab exec host1 -- "$NSAGENT" status)"

# Errors: exit 1 for a conflict, 2 for a bad name or a config namespace.
set +e
ns add web >/dev/null 2>&1; rc_dup=$?
ns add 'bad/name' >/dev/null 2>&1; rc_bad=$?
err=$(ns del NS1 2>&1 >/dev/null); rc_cfg=$?
ns del nosuch >/dev/null 2>&1; rc_missing=$?
set -e
((rc_dup == 1)) || fail "adding web twice exited $rc_dup (want 1)"
((rc_bad == 2)) || fail "a bad name exited $rc_bad (want 2)"
((rc_cfg == 2)) || fail "deleting a config namespace exited $rc_cfg (want 2)"
[[ $err == *"comes from the config"* ]] || fail "ns del NS1 said: $err"
((rc_missing == 1)) || fail "deleting a missing namespace exited $rc_missing (want 1)"

# A restart keeps the runtime namespace and its address.
lab agent host1 restart || fail "agent restart"
lab exec host1 -- "$NSAGENT" status --json | jq -e \
	'.namespaces | map(select(.name == "web"))[0] | .ip == "172.16.0.4" and .origin == "runtime"' \
	>/dev/null || fail "web lost across a restart"
lab ping --timeout 10 host1 NS1 172.16.0.4 || fail "web unreachable after a restart"

# While web holds .4 nobody else gets it; once it is gone, .4 is free.
out=$(ns add db) || fail "ns add db"
[[ $out == *"172.16.0.5/24 and fd6e:7361:6765::5/64" ]] || fail "db did not get the lowest free address: $out"
out=$(ns del web) || fail "ns del web exited $?"
[[ $out == "removed namespace web" ]] || fail "ns del said: $out"
lab wait --timeout 10 host1 -- sh -c '! ip netns list | grep -q "^web\b"' || fail "web still in ip netns"
lab exec host1 -- ip link show nsa-web >/dev/null 2>&1 && fail "web's veth is still on the host"
lab exec host1 NS1 -- ping -c 1 -W 1 172.16.0.4 >/dev/null 2>&1 && fail "172.16.0.4 still answers"
lab exec host2 NS1 -- ping -c 1 -W 1 172.16.0.4 >/dev/null 2>&1 && fail "172.16.0.4 still answers host2"
out=$(ns add cache) || fail "ns add cache"
[[ $out == *"172.16.0.4/24 and fd6e:7361:6765::4/64" ]] || fail "cache did not take the freed 172.16.0.4: $out"
lab ping --timeout 10 host1 cache 172.16.0.5 || fail "cache cannot reach db"
echo PASS
