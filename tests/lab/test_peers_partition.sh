#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Silent partition: host2's switch port goes down (no FIN, no RST). host1
# declares the session down at the hold time, keeps host2's route as stale,
# and after the heal exactly one session is re-established.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

lab_init peers_partition
hold_s=3
lab up --hosts 2 --name "$NSAGENT_LAB" -- --hold-time "${hold_s}s" >/dev/null ||
	fail "deploy/lab up"
poll 30 mesh_ready 2 || fail "no session between host1 and host2"
before=$(routes host1)

no_session() { [[ $(sessions host1) == 0 ]]; }
start=$SECONDS
lab link host2 down || fail "partition host2"
poll $((hold_s + 30)) no_session || fail "host1 kept the session through the partition"
elapsed=$((SECONDS - start))
((elapsed >= hold_s - 1)) || fail "session dropped after ${elapsed}s, before the hold time"
[[ $(routes host1) == "$before" ]] || fail "host1 dropped host2's route at once (want stale)"

lab link host2 up || fail "heal the partition"
poll 60 mesh_ready 2 || fail "no single session after the heal (host1: $(sessions host1))"
lab ping --timeout 30 host1 NS1 172.16.1.2 >/dev/null || fail "no traffic after the heal"
echo PASS
