#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Data-path probes between two lab hosts. Both paths answer: status shows
# probe ok with an RTT and metrics carry the RTT series. Then host2 drops
# host1's echoes in an nft table of this test's own (the TCP session stays
# up): host1 shows the path failed and logs exactly one "broken" line while
# host2's own path stays ok; once the rule is gone, exactly one "healed"
# line and ok again. host1 probes through a raw ICMP socket (a fresh network
# namespace's ping_group_range lets no group use datagram ICMP sockets);
# host2 is given a ping_group_range that admits root, so it uses one.
# A path that keeps answering is probed every 4th round once its stride
# has grown (sent counter against the clock), and every round while broken.
# Last, a reload turns probes on that the config file had off. IPv4 only
# (--ipv6 off): test_probe6.sh covers the IPv6 probes beside these.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

lab_init
flags=(--probe-interval 1s --metrics 127.0.0.1:9470 --ipv6 off)
lab up --hosts 2 --no-agent >/dev/null || fail "deploy/lab up"
lab exec host2 -- sysctl -qw net.ipv4.ping_group_range="0 0"
lab agent host1 start -- "${flags[@]}" || fail "host1 agent start"
lab agent host2 start -- "${flags[@]}" || fail "host2 agent start"

json() { lab exec "$1" -- "$NSAGENT" status --json; }
# probe_of HOST PEER_IP: "RESULT RTT_MS STATE" of that peer in HOST's status.
probe_of() {
	json "$1" | jq -r --arg ip "$2" \
		'.peers[] | select(.address == $ip) | "\(.probe) \(.probe_rtt_ms) \(.state)"'
}
scrape() { lab exec "$1" -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics; }
# wait_probe HOST PEER_IP RESULT: poll until HOST sees RESULT for PEER_IP.
wait_probe() {
	local deadline=$((SECONDS + 30)) got=""
	while :; do
		got=$(probe_of "$1" "$2") || true
		[[ $got == "$3 "* ]] && return 0
		((SECONDS < deadline)) || fail "$1: probe of $2 is '$got', want $3"
		sleep 0.2
	done
}
log_count() { lab agent "$1" log | grep -c -- "$2" || true; }

BROKEN='data path to peer 192.168.1.6 broken'
HEALED='data path to peer 192.168.1.6 healed'

# --- both paths work ---
wait_probe host1 192.168.1.6 ok
wait_probe host2 192.168.1.5 ok
read -r _ rtt state <<<"$(probe_of host1 192.168.1.6)"
[[ $state == established ]] || fail "session state $state"
awk -v r="$rtt" 'BEGIN {exit !(r > 0 && r < 1000)}' || fail "host1: RTT '$rtt' ms"
row=$(lab exec host1 -- "$NSAGENT" status | awk '$2 ~ /^192\.168\.1\.6:/')
grep_q -E ' ok  +[0-9]+\.[0-9]{3}ms$' <<<"$row" || fail "status row lacks probe ok and RTT: $row"
lab agent host1 log | grep_q 'data-path probes every 1000ms from 172.16.0.1 (raw ICMP socket' ||
	fail "host1 did not fall back to a raw ICMP socket"
lab agent host2 log | grep_q 'data-path probes every 1000ms from 172.16.1.1 (ICMP datagram socket)' ||
	fail "host2 did not use an ICMP datagram socket"

text=$(scrape host1) || fail "no metrics on host1"
for family in nsagent_probe_rtt_seconds nsagent_probe_lost_total nsagent_probe_up; do
	grep_q "^# TYPE $family " <<<"$text" || fail "metrics family $family missing"
done
rtt_s=$(metric_value 'nsagent_probe_rtt_seconds{peer="192.168.1.6",family="ipv4"}' "$text")
awk -v r="$rtt_s" 'BEGIN {exit !(r > 0 && r < 1)}' || fail "RTT gauge '$rtt_s'"
[[ $(metric_value 'nsagent_probe_up{peer="192.168.1.6",family="ipv4"}' "$text") == 1 ]] || fail "probe_up is not 1"
[[ $(metric_value 'nsagent_probe_sent_total{peer="192.168.1.6",family="ipv4"}' "$text") -ge 1 ]] ||
	fail "sent counter"
(($(log_count host1 "$BROKEN") == 0)) || fail "broken logged while the path worked"

# --- a steady path is probed less often ---
# Probes 1-4 go every round, 5-7 every 2nd, from the 8th on every 4th: the
# three after the 8th take about 12 rounds (12 s), against 3 s when every
# round probes. More than 6 s tells the two apart however late a round.
sent_v4() { metric_value 'nsagent_probe_sent_total{peer="192.168.1.6",family="ipv4"}' "$(scrape host1)"; }
sent_at_least() { (($(sent_v4) >= $1)); }
poll 60 sent_at_least 8 || fail "host1 sent $(sent_v4) probes to host2 in 60 s, want 8"
sent0=$(sent_v4) t0=$(date +%s.%N)
poll 60 sent_at_least $((sent0 + 3)) || fail "host1's probes to host2 stopped at $(sent_v4)"
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
awk -v e="$elapsed" 'BEGIN {exit !(e > 6)}' ||
	fail "3 probes to a steady path took $elapsed s at a 1 s interval (want every 4th round: about 12 s)"

# --- break host1 -> host2's data path, not the session ---
table=probetest$$
lab exec host2 -- nft -f - <<EOF
table ip $table {
	chain input {
		type filter hook input priority filter; policy accept;
		ip saddr 172.16.0.1 ip daddr 172.16.1.1 icmp type echo-request drop
	}
}
EOF
wait_probe host1 192.168.1.6 failed
lost=$(metric_value 'nsagent_probe_lost_total{peer="192.168.1.6",family="ipv4"}' "$(scrape host1)")
# Stay broken for a few more rounds: it is still reported once.
deadline=$((SECONDS + 30))
until (($(metric_value 'nsagent_probe_lost_total{peer="192.168.1.6",family="ipv4"}' "$(scrape host1)") >= lost + 3)); do
	((SECONDS < deadline)) || fail "lost counter does not grow while broken"
	sleep 0.2
done
read -r result _ state <<<"$(probe_of host1 192.168.1.6)"
[[ $result == failed && $state == established ]] ||
	fail "host1 sees probe $result, session $state (want failed, established)"
lab exec host1 -- "$NSAGENT" status | awk '$2 ~ /^192\.168\.1\.6:/' | grep_q -E ' failed  +-$' ||
	fail "status row does not show the failed probe"
(($(log_count host1 "$BROKEN") == 1)) || fail "want one broken line, got $(log_count host1 "$BROKEN")"
text=$(scrape host1)
[[ $(metric_value 'nsagent_probe_up{peer="192.168.1.6",family="ipv4"}' "$text") == 0 ]] || fail "probe_up is not 0"
[[ $(metric_value 'nsagent_probe_loss_ratio{peer="192.168.1.6",family="ipv4"}' "$text") != 0 ]] || fail "loss ratio 0"
# The other direction is unaffected.
[[ $(probe_of host2 192.168.1.5) == "ok "* ]] || fail "host2's path failed too"
(($(log_count host2 'data path to peer 192.168.1.5 broken') == 0)) || fail "host2 logged a broken path"

# --- heal ---
lab exec host2 -- nft delete table ip "$table"
wait_probe host1 192.168.1.6 ok
(($(log_count host1 "$HEALED") == 1)) || fail "want one healed line, got $(log_count host1 "$HEALED")"
(($(log_count host1 "$BROKEN") == 1)) || fail "broken logged again after healing"
read -r _ rtt _ <<<"$(probe_of host1 192.168.1.6)"
awk -v r="$rtt" 'BEGIN {exit !(r > 0)}' || fail "no RTT after healing: '$rtt'"
[[ $(metric_value 'nsagent_probe_up{peer="192.168.1.6",family="ipv4"}' "$(scrape host1)") == 1 ]] || fail "probe_up not 1"

# --- probe-interval from the config file, off, then on by reload ---
printf '[nsagent]\nprobe-interval = off\n' | lab exec host1 -- sh -c 'cat >/etc/nsagent/nsagent.conf'
lab agent host1 restart -- --metrics 127.0.0.1:9470 --ipv6 off || fail "host1 restart"
wait_probe host1 192.168.1.6 unknown
text=$(scrape host1) || fail "no metrics after restart"
grep_q '^nsagent_probe_' <<<"$text" && fail "probe series with probes off"
printf '[nsagent]\nprobe-interval = 300ms\n' | lab exec host1 -- sh -c 'cat >/etc/nsagent/nsagent.conf'
lab exec host1 -- "$NSAGENT" reload >/dev/null || fail "reload"
wait_probe host1 192.168.1.6 ok
echo PASS
