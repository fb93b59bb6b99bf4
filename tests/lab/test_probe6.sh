#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Data-path probes over IPv6 (dual-stack, the default): each peer is probed
# with ICMPv6 from our bridge's ::1 to its bridge's ::1 beside the IPv4
# probe, and each family's result stands on its own. host2 drops host1's
# ICMPv6 echoes in an nft table of this test's own: host1 shows the IPv6
# path failed (status JSON, text columns, metrics with family="ipv6") while
# its IPv4 path stays ok; without the rule, ok again. With --ipv6 off no
# IPv6 probe is sent at all.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

lab_init
flags=(--probe-interval 1s --metrics 127.0.0.1:9470)
lab up --hosts 2 --no-agent >/dev/null || fail "deploy/lab up"
lab agent host1 start -- "${flags[@]}" || fail "host1 agent start"
lab agent host2 start -- "${flags[@]}" || fail "host2 agent start"

json() { lab exec "$1" -- "$NSAGENT" status --json; }
# probes_of HOST PEER_IP: "PROBE PROBE6 PROBE6_RTT_MS" of that peer.
probes_of() {
	json "$1" | jq -r --arg ip "$2" \
		'.peers[] | select(.address == $ip) | "\(.probe) \(.probe6) \(.probe6_rtt_ms)"'
}
scrape() { lab exec "$1" -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics; }
# wait_probes HOST PEER_IP "PROBE PROBE6": poll until HOST sees both.
wait_probes() {
	local deadline=$((SECONDS + 30)) got=""
	while :; do
		got=$(probes_of "$1" "$2") || true
		[[ $got == "$3 "* ]] && return 0
		((SECONDS < deadline)) || fail "$1: probes of $2 are '$got', want '$3'"
		sleep 0.2
	done
}

# --- both families work, both ways ---
wait_probes host1 192.168.1.6 "ok ok"
wait_probes host2 192.168.1.5 "ok ok"
read -r _ _ rtt6 <<<"$(probes_of host1 192.168.1.6)"
awk -v r="$rtt6" 'BEGIN {exit !(r > 0 && r < 1000)}' || fail "host1: IPv6 RTT '$rtt6' ms"
text=$(scrape host1) || fail "no metrics on host1"
[[ $(metric_value 'nsagent_probe_up{peer="192.168.1.6",family="ipv6"}' "$text") == 1 ]] ||
	fail "IPv6 probe_up is not 1"
[[ $(metric_value 'nsagent_probe_up{peer="192.168.1.6",family="ipv4"}' "$text") == 1 ]] ||
	fail "IPv4 probe_up is not 1"
lab exec host1 -- "$NSAGENT" status | grep_q -E 'PROBE6 +RTT6$' || fail "status has no PROBE6 column"

# --- break host1 -> host2's IPv6 path only ---
table=probe6test$$
lab exec host2 -- nft -f - <<EOF
table ip6 $table {
	chain input {
		type filter hook input priority filter; policy accept;
		ip6 saddr fd6e:7361:6765::1 ip6 daddr fd6e:7361:6765:1::1 icmpv6 type echo-request drop
	}
}
EOF
wait_probes host1 192.168.1.6 "ok failed"
text=$(scrape host1)
[[ $(metric_value 'nsagent_probe_up{peer="192.168.1.6",family="ipv6"}' "$text") == 0 ]] ||
	fail "IPv6 probe_up is not 0 while its echoes are dropped"
[[ $(metric_value 'nsagent_probe_up{peer="192.168.1.6",family="ipv4"}' "$text") == 1 ]] ||
	fail "the IPv4 probe failed with the IPv6 path"
lab exec host1 -- "$NSAGENT" status | awk '$2 ~ /^192\.168\.1\.6:/' | grep_q -E ' ok +[0-9.]+ms +failed +-$' ||
	fail "status row does not show IPv4 ok and IPv6 failed"
[[ $(probes_of host2 192.168.1.5) == "ok ok "* ]] || fail "host2's paths failed too"

# --- heal ---
lab exec host2 -- nft delete table ip6 "$table"
wait_probes host1 192.168.1.6 "ok ok"

# --- IPv4 only: no IPv6 probe at all ---
lab agent host1 restart -- "${flags[@]}" --ipv6 off || fail "host1 restart with --ipv6 off"
wait_probes host1 192.168.1.6 "ok null"
grep_q 'family="ipv6"' <<<"$(scrape host1)" && fail "IPv6 probe series with --ipv6 off"
echo PASS
