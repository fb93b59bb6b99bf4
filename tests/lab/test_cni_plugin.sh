#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The nsagent-cni plugin run directly as a container runtime runs it (only
# CNI_* variables, the network config on stdin) against a real agent on a
# lab host: ADD, CHECK, DEL, GC, STATUS and VERSION, each error a runtime
# can meet (codes 1, 2, 3, 4, 6, 7, 11, 50, 103), DEL after an agent
# restart and after the netns is gone, a netns given as /proc/PID/ns/net,
# and 20 parallel ADDs getting 20 distinct addresses. The agent is
# dual-stack (the default): a result carries both addresses and both
# default routes, the container's eth0 has both, and CHECK fails while the
# IPv6 address is missing. What the plugin says
# is checked against the kernel (`ip` in the container's netns and on the
# host) and against `nsagent status --json` (.attachments).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${NSAGENT_CNI:?NSAGENT_CNI must name the nsagent-cni binary (ctest sets it)}"

lab_init
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cni-plugin.$$.XXXXXX")
lab_at_exit "rm -rf '$tmp'"
lab up --hosts 1 >/dev/null || fail "deploy/lab up"

CONF10='{"cniVersion":"1.0.0","name":"nsagent","type":"nsagent"}'
CONF11='{"cniVersion":"1.1.0","name":"nsagent","type":"nsagent"}'
CONF04='{"cniVersion":"0.4.0","name":"nsagent","type":"nsagent"}'

# cni COMMAND ID NETNS [CONF] [IFNAME]: the plugin on host1 with exactly the
# variables a runtime sets (ID or NETNS empty: that variable is unset).
cni() {
	local env=(CNI_COMMAND="$1" CNI_PATH=/usr/lib/cni)
	[[ -z $2 ]] || env+=(CNI_CONTAINERID="$2" CNI_IFNAME="${5:-eth0}")
	[[ -z $3 ]] || env+=(CNI_NETNS="$3")
	lab exec host1 -- env -i "${env[@]}" "$NSAGENT_CNI" <<<"${4:-$CONF10}"
}

# expect_error CODE TEXT CNI-ARGS...: the plugin exits 1 with a CNI error
# of that code whose msg holds TEXT.
expect_error() {
	local code=$1 text=$2 out rc
	shift 2
	out=$(cni "$@") && rc=0 || rc=$?
	((rc == 1)) || fail "cni $1 ${2:-} exited $rc (want 1 and code $code): $out"
	jq -e --argjson c "$code" '.code == $c and (.msg | type == "string") and
		(.cniVersion | type == "string")' <<<"$out" >/dev/null ||
		fail "cni $1 ${2:-}: want code $code, got: $out"
	jq -r .msg <<<"$out" | grep_q -F -- "$text" || fail "cni $1 ${2:-}: msg lacks '$text': $out"
}

status_json() { lab exec host1 -- "$NSAGENT" status --json; }
# attachment ID: the status entry of container ID, or nothing.
attachment() { status_json | jq -c --arg id "$1" '.attachments[] | select(.container_id == $id)'; }
newns() { lab exec host1 -- ip netns add "$1"; }

# ---- VERSION, STATUS ----
out=$(cni VERSION "" "" '{"cniVersion":"1.0.0"}') || fail "VERSION exited $?: $out"
jq -e '.cniVersion == "1.0.0" and .supportedVersions == ["0.4.0", "1.0.0", "1.1.0"]' \
	<<<"$out" >/dev/null || fail "VERSION said: $out"
out=$(cni STATUS "" "" "$CONF11") || fail "STATUS of a ready agent exited $?: $out"
[[ -z $out ]] || fail "STATUS printed something on success: $out"

# ---- ADD: a veth in the netns with the address, default route via br0 ----
newns cni-c1
add=$(cni ADD c1 /run/netns/cni-c1) || fail "ADD c1 exited $?: $add"
jq -e '.cniVersion == "1.0.0" and (.interfaces | length == 1) and
	.interfaces[0].name == "eth0" and .interfaces[0].sandbox == "/run/netns/cni-c1" and
	(.interfaces[0].mac | test("^([0-9a-f]{2}:){5}[0-9a-f]{2}$")) and
	(.ips | length == 2) and .ips[0].interface == 0 and .ips[0].gateway == "172.16.0.1" and
	(.ips[0].address | test("^172\\.16\\.0\\.[0-9]+/24$")) and
	(.ips[0] | has("version") | not) and
	.ips[1].interface == 0 and .ips[1].gateway == "fd6e:7361:6765::1" and
	(.ips[1].address | test("^fd6e:7361:6765::[0-9a-f]+/64$")) and
	.routes == [{"dst": "0.0.0.0/0", "gw": "172.16.0.1"},
		{"dst": "::/0", "gw": "fd6e:7361:6765::1"}]' <<<"$add" >/dev/null ||
	fail "ADD c1 result: $add"
c1_cidr=$(jq -r '.ips[0].address' <<<"$add")
c1_ip=${c1_cidr%/*}
c1_mac=$(jq -r '.interfaces[0].mac' <<<"$add")
# Not the bridge's, nor a namespace's of the config (NS1, NS2).
case $c1_ip in 172.16.0.1 | 172.16.0.2 | 172.16.0.3) fail "c1 got $c1_ip, which is taken" ;; esac
lab exec host1 cni-c1 -- ip -4 -o addr show dev eth0 | grep_q " $c1_cidr " ||
	fail "eth0 in cni-c1 lacks $c1_cidr: $(lab exec host1 cni-c1 -- ip -4 -o addr)"
lab exec host1 cni-c1 -- ip -4 route show default | grep_q '^default via 172.16.0.1 dev eth0' ||
	fail "cni-c1 has no default route via 172.16.0.1: $(lab exec host1 cni-c1 -- ip -4 route)"
[[ $(lab exec host1 cni-c1 -- cat /sys/class/net/eth0/address) == "$c1_mac" ]] ||
	fail "eth0's MAC in cni-c1 is not the result's $c1_mac"
lab ping --timeout 10 host1 cni-c1 172.16.0.1 || fail "c1 cannot reach br0"
lab ping --timeout 10 host1 NS1 "$c1_ip" || fail "NS1 cannot reach c1"
# IPv6: the same host part in the node's /64.
c1_cidr6=$(jq -r '.ips[1].address' <<<"$add")
c1_ip6=${c1_cidr6%/*}
[[ $c1_ip6 == "fd6e:7361:6765::$(printf %x "${c1_ip##*.}")" ]] ||
	fail "c1's IPv6 address $c1_ip6 does not have the host part of $c1_ip"
lab exec host1 cni-c1 -- ip -6 -o addr show dev eth0 | grep_q " $c1_cidr6 scope global" ||
	fail "eth0 in cni-c1 lacks $c1_cidr6: $(lab exec host1 cni-c1 -- ip -6 -o addr)"
lab exec host1 cni-c1 -- ip -6 route show default | grep_q '^default via fd6e:7361:6765::1 dev eth0' ||
	fail "cni-c1 has no default IPv6 route via fd6e:7361:6765::1: $(lab exec host1 cni-c1 -- ip -6 route)"
lab exec host1 cni-c1 -- ping -6 -c1 -W5 fd6e:7361:6765::1 >/dev/null || fail "c1 cannot reach br0 over IPv6"
lab exec host1 NS1 -- ping -6 -c1 -W5 "$c1_ip6" >/dev/null || fail "NS1 cannot reach c1 over IPv6"
at=$(attachment c1)
jq -e --arg ip "$c1_ip" --arg ip6 "$c1_ip6" '.netns == "/run/netns/cni-c1" and .ifname == "eth0" and
	.ip == $ip and .ip6 == $ip6 and .origin == "cni" and .netns_gone == false' <<<"$at" >/dev/null ||
	fail "status lacks c1 as attached: $(status_json | jq -c .attachments)"
c1_host_if=$(jq -r .host_ifname <<<"$at")
lab exec host1 -- ip -o link show "$c1_host_if" | grep_q 'master br0' ||
	fail "c1's host end $c1_host_if is not on br0"

# ADD again (same key, same netns): the same attachment.
again=$(cni ADD c1 /run/netns/cni-c1) || fail "a repeated ADD c1 exited $?: $again"
[[ $(jq -r '.ips[0].address' <<<"$again") == "$c1_cidr" ]] ||
	fail "a repeated ADD gave another address: $again"

# ---- CHECK with the ADD's result, as runtimes do ----
check_conf=$(jq -c --argjson prev "$add" '. + {prevResult: $prev}' <<<"$CONF10")
out=$(cni CHECK c1 /run/netns/cni-c1 "$check_conf") || fail "CHECK c1 exited $?: $out"
[[ -z $out ]] || fail "CHECK printed something on success: $out"
expect_error 3 "no attachment nosuch/eth0" CHECK nosuch /run/netns/cni-c1 "$check_conf"
bad_prev=$(jq -c '.prevResult.ips[0].address = "172.16.0.250/24"' <<<"$check_conf")
expect_error 102 "but prevResult says 172.16.0.250/24" CHECK c1 /run/netns/cni-c1 "$bad_prev"
# The container turns IPv6 off on eth0: its IPv6 address and route go and
# the agent cannot put them back (the kernel refuses), so CHECK fails and
# says what is missing; IPv6 on again, the agent's retry restores them.
lab exec host1 cni-c1 -- sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1
expect_error 102 "eth0 in /run/netns/cni-c1 has no IPv6 address $c1_ip6" CHECK c1 /run/netns/cni-c1 "$check_conf"
lab exec host1 cni-c1 -- sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0
deadline=$((SECONDS + 60))
until cni CHECK c1 /run/netns/cni-c1 "$check_conf" >/dev/null 2>&1; do
	((SECONDS < deadline)) || fail "CHECK c1 still fails 60 s after IPv6 came back on eth0"
	sleep 0.2
done

# ---- 0.4.0 clients: ips carry their version ----
newns cni-c2
out=$(cni ADD c2 /run/netns/cni-c2 "$CONF04") || fail "ADD c2 (0.4.0) exited $?: $out"
jq -e '.cniVersion == "0.4.0" and .ips[0].version == "4"' <<<"$out" >/dev/null ||
	fail "0.4.0 result: $out"
c2_cidr=$(jq -r '.ips[0].address' <<<"$out")
[[ $c2_cidr != "$c1_cidr" ]] || fail "c2 got c1's address"

# ---- errors ----
expect_error 6 "not valid JSON" ADD c9 /run/netns/cni-c1 '{"cniVersion": "1.0.0", "name": '
expect_error 1 'cniVersion "0.2.0" is not supported' ADD c9 /run/netns/cni-c1 \
	'{"cniVersion":"0.2.0","name":"nsagent","type":"nsagent"}'
expect_error 4 CNI_NETNS ADD c9 ""
expect_error 4 CNI_CONTAINERID ADD "-bad" /run/netns/cni-c1
expect_error 7 '"socket"' ADD c9 /run/netns/cni-c1 \
	'{"cniVersion":"1.0.0","name":"nsagent","type":"nsagent","socket":7}'
expect_error 7 '"name"' ADD c9 /run/netns/cni-c1 '{"cniVersion":"1.0.0","type":"nsagent"}'
expect_error 2 '"ipam"' ADD c9 /run/netns/cni-c1 \
	'{"cniVersion":"1.0.0","name":"nsagent","type":"nsagent","ipam":{"type":"host-local"}}'
expect_error 11 /run/nsagent/other.sock ADD c9 /run/netns/cni-c1 \
	'{"cniVersion":"1.0.0","name":"nsagent","type":"nsagent","socket":"/run/nsagent/other.sock"}'
expect_error 4 "CNI_NETNS '/run/netns/nope' is not a network namespace" ADD c9 /run/netns/nope
lab exec host1 -- touch /run/plain-file
expect_error 4 "CNI_NETNS '/run/plain-file'" ADD c9 /run/plain-file
# The host's own namespace (where the plugin runs) is no container's.
expect_error 4 "is the network namespace the plugin runs in" ADD c9 \
	"/proc/$(lab agent host1 pid)/ns/net"
# c1/eth0 is attached in cni-c1: not in another netns too.
expect_error 103 "attached in another netns" ADD c1 /run/netns/cni-c2
[[ -z $(attachment c9) ]] || fail "a failed ADD left an attachment: $(attachment c9)"

# ---- the agent is not running: code 11 (STATUS: 50), at once ----
lab agent host1 stop
start=$SECONDS
expect_error 11 /run/nsagent/nsagent.sock ADD c9 /run/netns/cni-c1
expect_error 50 /run/nsagent/nsagent.sock STATUS "" "" "$CONF11"
((SECONDS - start <= 5)) || fail "the plugin took $((SECONDS - start)) s to find no agent"
lab agent host1 start >/dev/null || fail "agent start"

# ---- an agent restart keeps the attachment; DEL after it frees it ----
lab agent host1 restart >/dev/null || fail "agent restart"
lab exec host1 cni-c1 -- ip -4 -o addr show dev eth0 | grep_q " $c1_cidr " ||
	fail "c1 lost $c1_cidr across an agent restart"
[[ -n $(attachment c1) ]] || fail "status lost c1 across an agent restart"
out=$(cni DEL c1 /run/netns/cni-c1) || fail "DEL c1 after a restart exited $?: $out"
[[ -z $out ]] || fail "DEL printed something on success: $out"
[[ -z $(attachment c1) ]] || fail "status still lists c1 after DEL: $(attachment c1)"
lab exec host1 -- ip link show "$c1_host_if" >/dev/null 2>&1 && fail "c1's veth $c1_host_if is still on the host"
lab exec host1 cni-c1 -- ip link show eth0 >/dev/null 2>&1 && fail "eth0 is still in cni-c1"
# DEL is idempotent, also for a container nobody attached.
cni DEL c1 /run/netns/cni-c1 >/dev/null || fail "a second DEL c1 failed"
cni DEL never-added "" >/dev/null || fail "DEL of an unknown container failed"
# DEL freed the address: the next container gets it (the lowest free one).
newns cni-c5
out=$(cni ADD c5 /run/netns/cni-c5 "$CONF11") || fail "ADD c5 exited $?: $out"
[[ $(jq -r '.ips[0].address' <<<"$out") == "$c1_cidr" ]] ||
	fail "c5 did not get c1's freed address $c1_cidr: $out"
# 1.1.0 results give the interface's MTU: the one the kernel has.
[[ $(jq -r '.interfaces[0].mtu' <<<"$out") == "$(lab exec host1 cni-c5 -- cat /sys/class/net/eth0/mtu)" ]] ||
	fail "the 1.1.0 result's MTU is not eth0's in cni-c5: $out"
cni DEL c5 /run/netns/cni-c5 >/dev/null || fail "DEL c5"

# ---- DEL after the runtime removed the netns ----
newns cni-c3
out=$(cni ADD c3 /run/netns/cni-c3) || fail "ADD c3 exited $?: $out"
c3_host_if=$(attachment c3 | jq -r .host_ifname)
lab exec host1 -- ip netns del cni-c3
out=$(cni DEL c3 /run/netns/cni-c3) || fail "DEL c3 after its netns went exited $?: $out"
[[ -z $(attachment c3) ]] || fail "status still lists c3 after DEL: $(attachment c3)"
lab wait --timeout 10 host1 -- sh -c "! ip link show '$c3_host_if'" ||
	fail "c3's veth $c3_host_if outlived its netns and DEL"
out=$(cni DEL c3 "") || fail "DEL c3 without CNI_NETNS exited $?: $out"

# ---- a netns given as /proc/PID/ns/net ----
pid=$(lab exec host1 -- sh -c 'unshare --net sleep 600 >/dev/null 2>&1 & echo $!')
lab_at_exit "kill $pid 2>/dev/null"
lab wait --timeout 10 host1 -- sh -c "[ \"\$(readlink /proc/$pid/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]" ||
	fail "unshare --net did not make a netns"
out=$(cni ADD c4 "/proc/$pid/ns/net") || fail "ADD c4 in /proc/$pid/ns/net exited $?: $out"
c4_cidr=$(jq -r '.ips[0].address' <<<"$out")
lab exec host1 -- nsenter --net="/proc/$pid/ns/net" ip -4 -o addr show dev eth0 | grep_q " $c4_cidr " ||
	fail "eth0 in /proc/$pid/ns/net lacks $c4_cidr"
cni DEL c4 "/proc/$pid/ns/net" >/dev/null || fail "DEL c4"
kill "$pid" 2>/dev/null || true

# ---- 20 parallel ADDs: 20 distinct addresses ----
n=20
lab exec host1 -- sh -c "for i in \$(seq 1 $n); do ip netns add cni-p\$i; done"
pids=()
for i in $(seq 1 "$n"); do
	cni ADD "p$i" "/run/netns/cni-p$i" >"$tmp/p$i.json" 2>"$tmp/p$i.err" &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || fail "parallel ADD p$((i + 1)) failed: $(cat "$tmp/p$((i + 1)).json")"
done
jq -r '.ips[0].address' "$tmp"/p*.json | sort >"$tmp/addrs"
[[ $(wc -l <"$tmp/addrs") -eq $n ]] || fail "$n ADDs gave $(wc -l <"$tmp/addrs") addresses"
dups=$(uniq -d "$tmp/addrs")
[[ -z $dups ]] || fail "parallel ADDs handed out the same address twice: $dups"
grep_q -xF "$c2_cidr" "$tmp/addrs" && fail "a parallel ADD got c2's address $c2_cidr"
for i in 1 "$n"; do
	addr=$(jq -r '.ips[0].address' "$tmp/p$i.json")
	lab exec host1 "cni-p$i" -- ip -4 -o addr show dev eth0 | grep_q " $addr " ||
		fail "eth0 in cni-p$i lacks $addr"
done
[[ $(status_json | jq '[.attachments[] | select(.container_id | startswith("p"))] | length') -eq $n ]] ||
	fail "status lists not $n parallel attachments: $(status_json | jq -c .attachments)"

# ---- GC keeps the listed attachments and removes the rest ----
keep=$(jq -c -n --argjson n "$n" '[range(1; $n / 2 + 1) | {containerID: "p\(.)", ifname: "eth0"}] +
	[{containerID: "c2", ifname: "eth0"}]')
gc_conf=$(jq -c --argjson keep "$keep" '. + {"cni.dev/valid-attachments": $keep}' <<<"$CONF11")
p_last_host_if=$(attachment "p$n" | jq -r .host_ifname)
out=$(cni GC "" "" "$gc_conf") || fail "GC exited $?: $out"
[[ -z $out ]] || fail "GC printed something on success: $out"
ids=$(status_json | jq -r '[.attachments[].container_id] | sort | join(" ")')
want=$(jq -r '[.[].containerID] | sort | join(" ")' <<<"$keep")
[[ $ids == "$want" ]] || fail "after GC the attachments are '$ids' (want '$want')"
lab exec host1 -- ip link show "$p_last_host_if" >/dev/null 2>&1 && fail "GC left p$n's veth $p_last_host_if"
expect_error 1 "does not allow GC" GC "" "" "$(jq -c '.cniVersion = "1.0.0"' <<<"$gc_conf")"
expect_error 7 "cni.dev/valid-attachments" GC "" "" "$CONF11"

# Everything DELs cleanly; nothing is left in status.
for i in $(seq 1 $((n / 2))); do cni DEL "p$i" "/run/netns/cni-p$i" >/dev/null || fail "DEL p$i"; done
cni DEL c2 /run/netns/cni-c2 >/dev/null || fail "DEL c2"
[[ $(status_json | jq '.attachments | length') -eq 0 ]] ||
	fail "attachments left after every DEL: $(status_json | jq -c .attachments)"
echo PASS
