#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The metrics endpoint cannot be held open or hoarded:
#   - a connection that sends nothing, and one that trickles a request a
#     byte a second (which an inactivity timeout alone never ends), are
#     both closed within METRICS_TIMEOUT_S (10 s);
#   - with more idle connections than METRICS_MAX_CONNECTIONS (16) open, a
#     scrape is not served (it waits in the kernel's queue and costs the
#     agent no descriptor), and it is again once they go.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

CONNS=$NSAGENT_SOURCE_DIR/tests/lab/conns.py
TIMEOUT_S=10
CAP=16

lab_init
lab up --hosts 1 --no-agent >/dev/null || fail "deploy/lab up"
lab agent host1 start -- --metrics 127.0.0.1:9470 >/dev/null || fail "agent start"
scrape() { lab exec host1 -- curl -sf --max-time "${1:-5}" http://127.0.0.1:9470/metrics; }
scrape >/dev/null || fail "no metrics on 127.0.0.1:9470"

# ---- timeouts: idle and trickling clients, side by side ----
idle=$(mktemp)
slow=$(mktemp)
lab_at_exit "rm -f '$idle' '$slow'"
lab exec host1 -- python3 "$CONNS" idle 127.0.0.1:9470 $((TIMEOUT_S + 10)) >"$idle" &
a=$!
lab exec host1 -- python3 "$CONNS" trickle 127.0.0.1:9470 $((TIMEOUT_S + 10)) >"$slow" &
b=$!
wait "$a" || fail "idle client failed"
wait "$b" || fail "trickling client failed"
echo "idle connection closed after: $(cat "$idle") s; trickling one after: $(cat "$slow") s"
within() { [[ $1 != open ]] && awk -v t="$1" -v max="$2" 'BEGIN {exit !(t <= max)}'; }
within "$(cat "$idle")" $((TIMEOUT_S + 2)) || fail "idle connection not closed within ${TIMEOUT_S} s"
within "$(cat "$slow")" $((TIMEOUT_S + 2)) || fail "trickling connection not closed within ${TIMEOUT_S} s"

# ---- cap: hoarded connections, then a scrape ----
ready=$(mktemp)
lab_at_exit "rm -f '$ready'"
lab exec host1 -- python3 "$CONNS" hold 6 127.0.0.1:9470:$((CAP * 3)) >"$ready" &
hoard=$!
lab_at_exit "kill $hoard 2>/dev/null"
poll 30 grep -q '^ready' "$ready" || fail "the hoarding client did not connect"
pid=$(lab agent host1 pid)
tcp=$(lab exec host1 -- ss -Htn state established '( sport = :9470 )' | grep -c . || true)
if scrape 2 >/dev/null; then
	fail "a scrape was served past the cap of $CAP connections"
fi
fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
echo "with $((CAP * 3)) connections opened: $tcp established, the agent holds $fds descriptors"
wait "$hoard" || fail "the hoarding client failed"
poll 30 scrape 2 || fail "no scrape served after the hoarding connections closed"
lab agent host1 log | grep_q "ERROR\|runtime error" && fail "sanitizer report"
agent_alive host1 || fail "the agent died"
echo PASS
