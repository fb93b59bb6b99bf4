#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The agent speaks systemd's notify protocol to a real datagram socket
# named by $NOTIFY_SOCKET, as the unit (Type=notify, WatchdogSec=,
# ExecReload=nsagent reload) relies on: READY=1 with a STATUS= once it
# serves; WATCHDOG=1 from its event loop at half of $WATCHDOG_USEC; a
# reload is RELOADING=1 then READY=1 with the outcome as status, and a
# refused config makes `nsagent reload` fail and says so in STATUS=;
# STOPPING=1 when it stops. Runs in its own network, mount and pid
# namespaces (sandbox.sh).
SANDBOX_PID=1
# shellcheck source=tests/kernel/sandbox.sh
source "$(dirname "$0")/sandbox.sh"

NSAGENT=${NSAGENT:?NSAGENT must name the nsagent binary}
tmp=$(mktemp -d "/tmp/nsagent-notify.$TAG.XXXXXX")
pids=()
cleanup() {
	reap "${pids[@]}"
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	echo "--- notifications" >&2
	cat "$tmp/notes" >&2
	echo "--- agent log" >&2
	tail -n 20 "$tmp/agent.log" >&2
	exit 1
}

# systemd's end: one line per datagram, its lines joined by '|'.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    out.write(s.recv(4096).decode().replace("\n", "|") + "\n")
' "$tmp/notify.sock" "$tmp/notes" &
pids+=($!)
: >"$tmp/notes"
poll 10 test -S "$tmp/notify.sock" || fail "the notify socket did not appear"

ip link add v0 type veth peer name v1
ip addr add 10.99.46.1/24 dev v0
ip link set v0 up
ip link set v1 up
conf=$tmp/nsagent.conf
printf '[nsagent]\nnode-ip = 10.99.46.1\n' >"$conf"
NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=400000 "$NSAGENT" run --config "$conf" \
	--bridge brnotify --run-dir "$tmp/run" --subnet 172.16.46.0/24 --namespaces NS1 \
	--state-dir "$tmp/state" --probe-interval off >>"$tmp/agent.log" 2>&1 &
agent=$!
pids+=("$agent")

noted() { grep -qxE "$1" "$tmp/notes"; }
count() { grep -cxE "$1" "$tmp/notes"; }
poll 30 noted 'READY=1\|STATUS=running: node IP 10\.99\.46\.1' || fail "no READY=1 with a status"
# Half of 400 ms: a few keep-alives within a second or two.
watchdog_enough() { (($(count 'WATCHDOG=1') >= 5)); }
poll 10 watchdog_enough || fail "fewer than 5 WATCHDOG=1 from the event loop"

# A good reload: RELOADING=1, then READY=1 saying so.
out=$("$NSAGENT" reload --run-dir "$tmp/run" 2>&1) || fail "nsagent reload failed: $out"
poll 10 noted 'READY=1\|STATUS=running: config reloaded' || fail "no READY=1 after the reload"
grep -E '^(RELOADING|READY)=1' "$tmp/notes" | tail -n 2 | tr '\n' ' ' >"$tmp/order"
grep -qE '^RELOADING=1\|MONOTONIC_USEC=[0-9]+\|STATUS=reloading the config READY=1\|STATUS=running: config reloaded $' \
	"$tmp/order" || fail "a reload is not RELOADING=1 then READY=1: $(cat "$tmp/order")"

# A refused config: the reload command fails (as ExecReload then does) and
# the status says why.
printf '[nsagent]\nnode-ip = 10.99.46.1\nno-such-key = 1\n' >"$conf"
if out=$("$NSAGENT" reload --run-dir "$tmp/run" 2>&1); then
	fail "nsagent reload succeeded with a broken config: $out"
fi
poll 10 noted 'READY=1\|STATUS=running: reload failed: .*no-such-key.*' ||
	fail "no READY=1 saying the reload failed"

kill -TERM "$agent"
wait "$agent" 2>/dev/null
poll 10 noted 'STOPPING=1\|STATUS=stopping' || fail "no STOPPING=1"
echo "test_notify: ok"
