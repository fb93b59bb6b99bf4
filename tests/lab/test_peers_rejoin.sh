#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Rejoin from persisted peers: a chain host3 -> host2 -> host1 (each
# --peer its predecessor; host1 --peer host2). Stop all three, then start
# only host1 and host3, which never had each other as --peer and whose
# --peer (host2) stays down: they find each other from the peers persisted
# in their state dirs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

lab_init peers_rejoin
lab up --hosts 3 --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"
poll 60 mesh_ready 3 || fail "no full mesh of 3"
for h in host1 host2 host3; do lab agent "$h" stop || fail "stop $h"; done
lab agent host1 start >/dev/null || fail "start host1"
lab agent host3 start >/dev/null || fail "start host3"
pair_ready() {
	[[ $(sessions host1) == 1 && $(sessions host3) == 1 ]] &&
		routes host1 | grep_q '^172.16.2.0/24 via 192.168.1.7$' &&
		routes host3 | grep_q '^172.16.0.0/24 via 192.168.1.5$'
}
poll 60 pair_ready || fail "host1 and host3 did not find each other (host1: $(routes host1 | tr '\n' ';'), host3: $(routes host3 | tr '\n' ';'))"
lab ping --timeout 30 host3 NS1 172.16.0.2 >/dev/null || fail "NS1@host3 cannot reach NS1@host1"
echo PASS
