#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `nsagent status` against a running lab host: the people's output matches
# a golden file once the fields that vary (node id, version, uptime) are
# normalised, the JSON form has the documented keys and types, and the exit
# status says whether an agent runs (0 healthy, 3 not running).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

lab_init
lab up --hosts 1 >/dev/null || fail "deploy/lab up"
st() { lab exec host1 -- "$NSAGENT" status "$@"; }

lab exec host1 -- "$NSAGENT" ns add web >/dev/null || fail "ns add web"
out=$(st) || fail "status exited $? on a healthy agent"
normalised=$(sed -E -e 's/^(node     ).*/\1<ID>/' -e 's/^(agent    ).*/\1<VERSION>/' \
	-e 's/^(uptime   ).*/\1<DURATION>/' <<<"$out")
diff -u "$NSAGENT_SOURCE_DIR/tests/lab/golden/status-one-host.txt" - <<<"$normalised" ||
	fail "status output differs from tests/lab/golden/status-one-host.txt"
grep -qE '^uptime   [0-9]+(s|m[0-9]{2}s)$' <<<"$out" || fail "uptime is not a duration: $out"

json=$(st --json) || fail "status --json exited $?"
# Keys and types scripts rely on (null where a value is not known yet).
jq -e '
	(.version | type == "string") and (.pid | type == "number") and
	(.uptime_ms | type == "number") and .healthy == true and .problem == null and
	(.node | (.id == null or (.id | type == "string")) and .ip == "192.168.1.5" and
		.subnet == "172.16.0.0/24" and .bridge == "br0" and .bridge_ip == "172.16.0.1" and
		.subnet6 == "fd6e:7361:6765::/64" and .bridge_ip6 == "fd6e:7361:6765::1" and
		.key == false) and
	(.namespaces | map([.name, .ip, .ip6, .origin]) ==
		[["NS1", "172.16.0.2", "fd6e:7361:6765::2", "config"],
		 ["NS2", "172.16.0.3", "fd6e:7361:6765::3", "config"],
		 ["web", "172.16.0.4", "fd6e:7361:6765::4", "runtime"]]) and
	(.peers | type == "array") and
	(.peers | all(has("node_id") and has("address") and has("port") and has("state") and
		has("mode") and has("subnet") and has("uptime_ms") and has("last_heard_ms") and
		has("route") and has("probe") and has("probe_rtt_ms")))
' <<<"$json" >/dev/null || fail "status --json lacks keys or values: $json"
[[ $(jq -r .pid <<<"$json") == "$(lab agent host1 pid)" ]] || fail "status pid is not the agent's"

# The socket is root-only: 0600 in a 0700 directory.
[[ $(lab exec host1 -- stat -c %a /run/nsagent/nsagent.sock) == 600 ]] || fail "socket mode"
[[ $(lab exec host1 -- stat -c %a /run/nsagent) == 700 ]] || fail "run dir mode"

# A client that sends garbage gets an error and the agent carries on.
reply=$(lab exec host1 -- sh -c 'printf "\000\000\000\003abc" |
	socat -t 2 - UNIX-CONNECT:/run/nsagent/nsagent.sock | tail -c +7') || true
[[ $reply == *"not a control request"* ]] || fail "garbage got no clear error: '$reply'"
reply=$(lab exec host1 -- sh -c 'printf "\177\377\377\377" |
	socat -t 2 - UNIX-CONNECT:/run/nsagent/nsagent.sock | tail -c +7') || true
[[ $reply == *"over the 65536-byte frame limit"* ]] || fail "huge frame got no clear error: '$reply'"
st >/dev/null || fail "status after bad clients"

# No agent: exit 3 and a message saying so; a second agent refuses to start.
set +e
err=$(lab exec host1 -- "$NSAGENT" run --node-ip 192.168.1.5 --subnet 172.16.0.0/24 2>&1 >/dev/null)
rc=$?
set -e
((rc != 0)) || fail "a second agent started"
[[ $err == *"another nsagent is running"* ]] || fail "second agent: no clear error: $err"
st >/dev/null || fail "the first agent stopped answering after a second one tried"
lab agent host1 stop
set +e
err=$(st 2>&1 >/dev/null)
rc=$?
set -e
((rc == 3)) || fail "status exited $rc with no agent (want 3)"
[[ $err == *"no agent is running"* ]] || fail "no-agent message: $err"
echo PASS
