#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reload (`nsagent reload` and SIGHUP): a valid new config is applied as a
# difference (a namespace added or removed, the rest untouched); an invalid
# one is reported with file:line, the running config is kept and the agent
# keeps running. A change to a key only a restart applies refuses the whole
# reload, naming every such key.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

lab_init
lab up --hosts 1 --no-agent >/dev/null || fail "deploy/lab up"
conf() { { echo '[nsagent]'; printf '%s\n' "$@"; } | lab exec host1 -- sh -c 'cat >/etc/nsagent/nsagent.conf'; }
has_netns() { lab exec host1 -- ip netns list | grep_q "^$1\b"; }
reload() { lab exec host1 -- "$NSAGENT" reload; }

conf "namespaces = NS1,NS2"
lab agent host1 start || fail "agent start"
pid=$(lab agent host1 pid)
ns1_id=$(lab exec host1 -- stat -L -c %i /run/netns/NS1)

conf "namespaces = NS1,NS2,db" "log-level = debug"
out=$(reload) || fail "reload of a good config exited $?"
[[ $out == "config reloaded" ]] || fail "reload said: $out"
has_netns db || fail "db was not created by the reload"
lab ping --timeout 10 host1 NS1 172.16.0.4 || fail "NS1 cannot reach db"
[[ $(lab exec host1 -- stat -L -c %i /run/netns/NS1) == "$ns1_id" ]] ||
	fail "NS1 was recreated by a reload that did not change it"

# Invalid: exit 1, the message names the place, nothing changes.
conf "namespaces = NS1" "keepalive = 5"
set +e
err=$(reload 2>&1 >/dev/null)
rc=$?
set -e
((rc == 1)) || fail "reload of a bad config exited $rc (want 1)"
[[ $err == *"nsagent.conf:3: keepalive: '5' is not a duration"*"the running config is kept"* ]] ||
	fail "reload error: $err"
has_netns db || fail "a rejected reload removed db"
has_netns NS2 || fail "a rejected reload removed NS2"
[[ $(lab agent host1 pid) == "$pid" ]] || fail "the agent did not survive a bad reload"
lab exec host1 -- "$NSAGENT" status >/dev/null || fail "unhealthy after a rejected reload"
lab agent host1 log | grep_q "reload: /etc/nsagent/nsagent.conf:3: keepalive" ||
	fail "the rejected reload is not in the log"

# Settings that need a restart: the reload is refused as a whole, naming
# each one, and nothing of it is applied (not even the new namespace).
restart_msg="bridge, key-file, listen, max-peers, accept-rate need a restart of the agent: nothing was reloaded (the running config is kept)"
conf "namespaces = NS1,NS2,db,web" "bridge = br9" "key-file = /etc/nsagent/cluster.key" \
	"listen = 0.0.0.0" "max-peers = 8" "accept-rate = 3"
set +e
err=$(reload 2>&1 >/dev/null)
rc=$?
set -e
((rc == 1)) || fail "reload with restart-only changes exited $rc (want 1)"
[[ $err == "nsagent: reload: $restart_msg" ]] || fail "reload with restart-only changes said: $err"
lab agent host1 log | grep_q -F "reload: $restart_msg" || fail "the refused reload is not in the log"
has_netns web && fail "a refused reload created web"
lab exec host1 -- ip link show br0 >/dev/null || fail "br0 went away"
lab exec host1 -- ip link show br9 >/dev/null 2>&1 && fail "br9 appeared before a restart"
# SIGHUP with the same file: refused (counted) and logged the same way.
failed() { status_json host1 | jq -e '.counters.reloads.failed'; }
failed_above() { (($(failed) > $1)); }
before=$(failed) || fail "host1's status has no reloads counter"
kill -HUP "$pid"
poll 30 failed_above "$before" || fail "a SIGHUP reload with restart-only changes is not refused"
(($(lab agent host1 log | grep -cF "reload: $restart_msg" || true) >= 2)) ||
	fail "the refused SIGHUP reload is not logged with the keys it names"
has_netns web && fail "a refused SIGHUP reload created web"
# One restart-only key alone is named alone.
conf "namespaces = NS1,NS2,db" "dial-rate = 2"
set +e
err=$(reload 2>&1 >/dev/null)
set -e
[[ $err == "nsagent: reload: dial-rate needs a restart of the agent"* ]] || fail "reload said: $err"

# SIGHUP: the same reload. Good config: db goes; bad config: logged, kept.
conf "namespaces = NS1,NS2"
kill -HUP "$pid"
lab wait --timeout 10 host1 -- sh -c '! ip netns list | grep -q "^db\b"' || fail "SIGHUP did not remove db"
conf "namespaces = NS1" "port = 0"
before=$(failed)
kill -HUP "$pid"
poll 30 failed_above "$before" || fail "a bad config on SIGHUP is not refused"
lab agent host1 log | grep_q "reload: /etc/nsagent/nsagent.conf:3: port" ||
	fail "a bad config on SIGHUP is not logged with its place"
has_netns NS2 || fail "a bad config on SIGHUP removed NS2"
[[ $(lab agent host1 pid) == "$pid" ]] || fail "the agent did not survive SIGHUP with a bad config"
echo PASS
