#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Running out of file descriptors (the issue: 1,100 slow connections to the
# peer and metrics ports under an open-file limit of 1024 made accept()
# fail with EMFILE, and libevent retried at once, forever: a core at 100 %,
# 100 MB of "Too many open files" in 15 s, real peers unanswered).
#
#   - host1 starts under a limit of 1024:1024, below the default
#     max-connections plus the agent's own needs: it says so, with the
#     numbers and the fix;
#   - its limit is then lowered to a few descriptors above what it holds
#     (its connections are bounded now, so only a limit below its needs
#     runs it out) and 1,100 idle connections go to each of the peer port
#     and the metrics port: the agent's CPU stays low, the log small, and
#     status counts the paused accepts;
#   - once they close, host2 (started with a soft limit under its hard
#     one, which it raises) gets a session with host1: routes on both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

CONNS=$NSAGENT_SOURCE_DIR/tests/lab/conns.py

lab_init
lab up --hosts 2 --no-agent >/dev/null || fail "deploy/lab up"
lab agent host1 start --nofile 1024:1024 -- --metrics 127.0.0.1:9470 >/dev/null ||
	fail "host1's agent does not start under an open-file limit of 1024"
pid=$(lab agent host1 pid)

# A limit just above what the agent holds: the flood must run it out.
held=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
limit=$((held + 12))
prlimit --pid "$pid" "--nofile=$limit:$limit"
echo "host1 holds $held descriptors; limit lowered to $limit"

mark=$(log_lines host1)
ready=$(mktemp)
lab_at_exit "rm -f '$ready'"
lab exec host1 -- python3 "$CONNS" hold 12 192.168.1.5:7470:1100 127.0.0.1:9470:1100 >"$ready" &
flood=$!
lab_at_exit "kill $flood 2>/dev/null"
poll 20 grep -q '^ready' "$ready" || fail "the flood did not connect: $(cat "$ready")"

# CPU time of the agent over 4 s of the flood: a spin burns ~100 %.
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
start=$(date +%s%N)
end=$((SECONDS + 4))
while ((SECONDS < end)); do
	agent_alive host1 || fail "host1's agent died during the flood"
	sleep 0.5
done
t1=$(ticks)
wall_ms=$((($(date +%s%N) - start) / 1000000))
cpu_pct=$(((t1 - t0) * 1000 * 100 / hz / wall_ms))
lines=$(log_since host1 "$mark" | grep -c "Too many open files" || true)
echo "during the flood: host1 CPU ${cpu_pct}% of ${wall_ms} ms, $lines log line(s) about it"
((cpu_pct < 30)) || fail "host1's agent used ${cpu_pct}% CPU while out of descriptors (a spin)"
((lines > 0)) || fail "nothing logged about running out of descriptors"
((lines < 200)) || fail "$lines log lines about running out of descriptors"
wait "$flood" || fail "the flood failed"

json=$(lab exec host1 -- "$NSAGENT" status --json || true)
paused=$(jq -r '.limits.accepts_paused // 0' <<<"$json")
echo "status: accepts paused $paused"
((paused > 0)) || fail "status counts no paused accepts: $json"
lab exec host1 -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics |
	grep -E '^nsagent_accepts_paused_total\{listener="(peer|metrics)"\} [1-9]' >&2 ||
	fail "no paused accepts in the metrics"

# A real peer, under a soft limit below its hard one.
lab agent host2 start --nofile 1024:4096 >/dev/null || fail "host2's agent does not start"
soft=$(awk '/^Max open files/ {print $4}' "/proc/$(lab agent host2 pid)/limits")
[[ $soft == 4096 ]] || fail "host2 did not raise its soft open-file limit to the hard one ($soft)"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer after the flood"
agent_alive host1 || fail "host1's agent died"
log_last host1 | grep -E "open-file limit 1024 \(hard limit 1024\) is below .*max-connections 1024 \+ [0-9]+ .*lower max-connections" >&2 ||
	fail "no start-up warning about the open-file limit: $(log_last host1 | head -n 20)"
echo PASS
