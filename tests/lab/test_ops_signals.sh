#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Signals during start-up. The agent blocks the signals it handles first
# thing and unblocks them once the event loop has their handlers, so:
# - a SIGHUP that is already pending, behind a blocked mask inherited from
#   the parent (the mask survives exec), is handled as a reload once the
#   agent is up, and the mask does not stay blocked;
# - SIGHUPs sent without pause while the agent starts do not kill it.
# Nothing can guard the agent before its main() runs (the loader runs
# with default dispositions), so the storm starts at the first sign of the
# agent's own code: SIGHUP blocked (this fix, first thing) or its control
# socket made (early in start-up: before the kernel layer and the
# sessions, and before any handler).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

lab_init
work=$(mktemp -d /tmp/nsagent-signals.XXXXXX)
lab_at_exit 'rm -rf "$work"'
lab up --hosts 1 --no-agent >/dev/null || fail "deploy/lab up"
real=$(readlink -f "$NSAGENT")

# hup_blocked PID: SIGHUP (signal 1, bit 0) is in the process's blocked mask.
hup_blocked() {
	local mask
	mask=$(awk '$1 == "SigBlk:" {print $2}' "/proc/$1/status")
	(((16#$mask & 1) == 1))
}
# reloads [RESULT]: the agent's reloads (status --json), of RESULT (ok,
# failed) or all; 0 when the agent does not answer.
reloads() {
	local n
	n=$(status_json host1 | jq -e ".counters.reloads | ${1:+.$1 // }(.ok + .failed)" 2>/dev/null) || n=0
	echo "$n"
}

# 1. A launcher that blocks SIGHUP, makes one pending and execs the agent.
cat >"$work/launcher" <<EOF
#!/usr/bin/env python3
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
os.kill(os.getpid(), signal.SIGHUP)
os.execv("$real", ["$real"] + sys.argv[1:])
EOF
chmod +x "$work/launcher"
NSAGENT=$work/launcher lab agent host1 start || fail "agent start through the launcher"
pid=$(lab agent host1 pid)
[[ $(readlink "/proc/$pid/exe") == "$real" ]] || fail "pid $pid is not the agent"
handled() { (($(reloads) >= 1)); }
poll 30 handled || fail "the SIGHUP pending at start was never handled (no reload counted)"
(($(reloads ok) >= 1)) || fail "the pending SIGHUP did not reload: $(reloads failed) failed reload(s)"
hup_blocked "$pid" && fail "SIGHUP is still blocked in the running agent"
[[ $(lab agent host1 pid) == "$pid" ]] || fail "the agent did not survive the pending SIGHUP"
echo "ok: a SIGHUP pending behind an inherited mask is handled as a reload"
lab agent host1 stop || fail "agent stop"

# 2. A storm of SIGHUPs from the first sign of the agent's code until it is
# ready (its pid file exists in its mount namespace). The storm runs before
# the agent starts and learns its pid from a wrapper that records it and
# execs the agent (same pid).
cat >"$work/record" <<EOF
#!/bin/sh
echo \$\$ >"$work/agent.pid"
exec "$real" "\$@"
EOF
chmod +x "$work/record"
cat >"$work/storm" <<'EOF'
#!/usr/bin/env python3
import os, signal, sys, time
pid_file, real = sys.argv[1], sys.argv[2]
open(pid_file + ".watching", "w").close()
deadline = time.monotonic() + 60
pid = None
while pid is None:
    if time.monotonic() > deadline:
        print("the agent did not start")
        sys.exit(1)
    try:
        with open(pid_file) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        time.sleep(0.0002)
root = "/proc/%d/root/run/nsagent/" % pid
def state():
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"
def ours():
    try:
        return os.readlink("/proc/%d/exe" % pid) == real
    except OSError:
        return False
def hup_blocked():
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return int(line.split()[1], 16) & 1 == 1
    except OSError:
        pass
    return False
sent, started = 0, False
while time.monotonic() < deadline:
    if state() in ("Z", "X"):
        print("the agent died after %d SIGHUPs" % sent)
        sys.exit(1)
    if not started:
        started = ours() and (hup_blocked() or os.path.exists(root + "nsagent.sock"))
    if started:
        os.kill(pid, signal.SIGHUP)
        sent += 1
        if os.path.exists(root + "nsagent.pid"):
            print("ready after %d SIGHUPs" % sent)
            sys.exit(0)
    time.sleep(0.0002)
print("not ready in 60 s after %d SIGHUPs" % sent)
sys.exit(1)
EOF
python3 "$work/storm" "$work/agent.pid" "$real" >"$work/storm.out" 2>&1 &
storm=$!
lab_at_exit 'kill "$storm" 2>/dev/null || true'
watching() { [[ -e $work/agent.pid.watching ]]; }
poll 30 watching || fail "the SIGHUP sender did not start"
NSAGENT=$work/record lab agent host1 start --no-wait || fail "agent start"
rc=0
wait "$storm" || rc=$?
((rc == 0)) || fail "SIGHUPs during start-up: $(cat "$work/storm.out"); end of the log: $(lab agent host1 log | tail -n 5)"
echo "ok: $(cat "$work/storm.out")"
pid=$(cat "$work/agent.pid")
lab agent host1 wait || fail "the agent is not ready after the SIGHUPs"
[[ $(lab agent host1 pid) == "$pid" ]] || fail "the agent did not survive the SIGHUPs"
# a new agent: its counters start at 0
more() { (($(reloads) > 0)); }
poll 30 more || fail "no SIGHUP of the storm was handled"
lab exec host1 -- "$NSAGENT" status >/dev/null || fail "unhealthy after the SIGHUPs"
echo PASS
