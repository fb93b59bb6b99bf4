#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Seed scenario, 2 hosts: the agents peer over the underlay and install
# `<other subnet> via <other node IP> proto nsagent`; all four namespaces
# reach each other, and a TCP connection from NS1@host1 to NS2@host2 is
# seen by the server with source 172.16.0.2 (no NAT between nodes).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

lab_init peers_seed
lab up --hosts 2 --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"

lab wait --timeout 30 host1 -- sh -c 'ip route show 172.16.1.0/24 | grep -q "via 192.168.1.6 .*proto nsagent"' ||
	fail "host1: no route to 172.16.1.0/24 via host2"
lab wait --timeout 30 host2 -- sh -c 'ip route show 172.16.0.0/24 | grep -q "via 192.168.1.5 .*proto nsagent"' ||
	fail "host2: no route to 172.16.0.0/24 via host1"

for src in host1:NS1 host1:NS2 host2:NS1 host2:NS2; do
	for dst in 172.16.0.2 172.16.0.3 172.16.1.2 172.16.1.3; do
		lab ping --timeout 30 "${src%%:*}" "${src##*:}" "$dst" >/dev/null ||
			fail "$src cannot reach $dst"
	done
done

# No NAT between nodes: the server in NS2@host2 sees NS1@host1's address.
port=$((20000 + $$ % 20000))
out=$(mktemp)
lab_at_exit 'rm -f "$out"'
lab exec host2 NS2 -- timeout 20 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
c, a = s.accept(); print(a[0]); c.close()' "$port" >"$out" &
server=$!
lab wait --timeout 10 host2 NS2 -- sh -c "ss -ltn | grep -q ':$port '" || fail "server did not listen"
lab exec host1 NS1 -- python3 -c '
import socket, sys
socket.create_connection(("172.16.1.3", int(sys.argv[1])), timeout=5).close()' "$port" ||
	fail "NS1@host1 cannot connect to NS2@host2"
wait "$server" || fail "server failed"
[[ $(<"$out") == 172.16.0.2 ]] || fail "server saw source '$(<"$out")', want 172.16.0.2 (NAT between nodes?)"
echo PASS
