#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A control client that pipelines status requests and never reads the
# replies (the issue: the agent's RSS went from 4.8 MB to 230 MB) is
# dropped once its queued replies pass the per-client bound: the agent's
# memory stays flat, the drop is logged and counted, and other clients are
# answered meanwhile.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

CONNS=$NSAGENT_SOURCE_DIR/tests/lab/conns.py

# As in test_sec_flood: ASan's quarantine would read as growth.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0:detect_stack_use_after_return=0

lab_init
lab up --hosts 1 >/dev/null || fail "deploy/lab up"
mark=$(log_lines host1)
rss0=$(rss_kib host1)
out=$(mktemp)
lab_at_exit "rm -f '$out'"
lab exec host1 -- python3 "$CONNS" pipeline /run/nsagent/nsagent.sock 500000 >"$out" &
client=$!
lab_at_exit "kill $client 2>/dev/null"
peak=$rss0 answered=0
while kill -0 "$client" 2>/dev/null; do
	rss=$(rss_kib host1) || fail "host1's agent died"
	((rss <= peak)) || peak=$rss
	if lab exec host1 -- "$NSAGENT" status >/dev/null; then
		answered=$((answered + 1))
	fi
	sleep 0.2
done
wait "$client" || fail "the pipelining client failed: $(cat "$out")"
echo "pipelining client: $(cat "$out"); agent RSS $rss0 -> peak $peak KiB; $answered status call(s) answered meanwhile"
grep -q '^dropped after' "$out" || fail "the client that does not read was not dropped"
((peak - rss0 < 20480)) || fail "the agent's RSS grew by $((peak - rss0)) KiB"
((answered > 0)) || fail "no other client was answered meanwhile"
log_since host1 "$mark" | grep_q "control: dropping a client that does not read its replies" ||
	fail "the drop is not logged"
dropped=$(lab exec host1 -- "$NSAGENT" status --json | jq -r '.limits.control_clients_dropped')
[[ $dropped == 1 ]] || fail "status counts $dropped dropped control client(s), not 1"
agent_alive host1 || fail "host1's agent died"
echo PASS
