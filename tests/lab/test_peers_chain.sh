#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Chains of 3 and 8 hosts, each given only its predecessor as --peer (the
# lab's default) and all started at once: peer exchange closes the chain
# into a full mesh with exactly one session per pair and N-1 routes on
# every host, and NS1 on the first host reaches NS1 on the last.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

for n in 3 8; do
	lab_init "peers_chain$n"
	lab up --hosts "$n" --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up --hosts $n"
	poll 60 mesh_ready "$n" || {
		for ((i = 1; i <= n; i++)); do
			echo "host$i: $(n_routes "host$i") routes, $(sessions "host$i") sessions" >&2
		done
		fail "$n hosts: no full mesh"
	}
	lab ping --timeout 30 host1 NS1 "172.16.$((n - 1)).2" >/dev/null ||
		fail "$n hosts: NS1@host1 cannot reach NS1@host$n"
	lab ping --timeout 30 "host$n" NS1 172.16.0.2 >/dev/null ||
		fail "$n hosts: NS1@host$n cannot reach NS1@host1"
	lab down >/dev/null || fail "deploy/lab down"
	trap - EXIT
done
echo PASS
