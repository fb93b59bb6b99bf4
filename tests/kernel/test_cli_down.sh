#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `nsagent down` and the pid file: down signals only an agent that holds
# <run-dir>/nsagent.pid locked. After a crash the file stays behind and its
# pid may belong to another process by then: that process is not signalled,
# down says that no agent runs and still removes what the agent made. A
# live agent is asked to leave and exits; one that does not exit is named
# and nothing is removed. Runs in its own network, mount and pid namespaces
# (sandbox.sh): down removes kernel state, which must never be the
# machine's, and no process of the test outlives it.
SANDBOX_PID=1
# shellcheck source=tests/kernel/sandbox.sh
source "$(dirname "$0")/sandbox.sh"

NSAGENT=${NSAGENT:?NSAGENT must name the nsagent binary}
tmp=$(mktemp -d "/tmp/nsagent-down.$TAG.XXXXXX")
pids=()
# KILL, not reap's TERM: a stopped process keeps a TERM pending forever.
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	[[ -f $tmp/agent.log ]] && { echo "--- agent log" >&2; tail -n 20 "$tmp/agent.log" >&2; }
	exit 1
}

run_dir=$tmp/run
pid_file=$run_dir/nsagent.pid
common=(--config /dev/null --bridge brdown --run-dir "$run_dir")
ip link add v0 type veth peer name v1
ip addr add 10.99.45.1/24 dev v0
ip link set v0 up
ip link set v1 up

agent=
agent_ready() { [[ $(cat "$pid_file" 2>/dev/null) == "$agent" ]]; }
start_agent() {
	env -u NOTIFY_SOCKET "$NSAGENT" run "${common[@]}" --node-ip 10.99.45.1 \
		--subnet 172.16.45.0/24 --namespaces NS1 --state-dir "$tmp/state" \
		--probe-interval off >>"$tmp/agent.log" 2>&1 &
	agent=$!
	pids+=("$agent")
	poll 30 agent_ready || fail "the agent did not become ready"
}
# alive PID: the process exists and has not exited (a child that died is
# a zombie until waited for).
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $state != Z && $state != X ]]
}
stopped() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == T ]]; }
topology_there() { ip link show brdown >/dev/null 2>&1 && [[ -e /run/netns/NS1 ]]; }
topology_gone() { ! ip link show brdown >/dev/null 2>&1 && [[ ! -e /run/netns/NS1 ]]; }
down() {
	rc=0
	"$NSAGENT" down "${common[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# An agent that crashed: its topology and its pid file stay behind.
start_agent
kill -KILL "$agent"
wait "$agent" 2>/dev/null || true
{ [[ -s $pid_file ]] && topology_there; } || fail "a killed agent left no pid file or no topology"

# A process that holds the pid file locked and does not exit (stopped)
# stands for an agent that ignores the request: down names it, exit 1,
# and removes nothing.
python3 -c '
import fcntl, os, signal, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, b"%d\n" % os.getpid())
os.kill(os.getpid(), signal.SIGSTOP)' "$pid_file" &
stuck=$!
pids+=("$stuck")
poll 10 stopped "$stuck" || fail "the lock holder did not stop"
down
((rc == 1)) || fail "down with a stuck agent exited $rc, want 1: $(cat "$tmp/err")"
grep -qF "nsagent: the running agent (pid file in $run_dir) did not exit within 5 s" "$tmp/err" ||
	fail "down with a stuck agent said: $(cat "$tmp/err")"
topology_there || fail "down removed the topology although the agent did not exit"
kill -KILL "$stuck"
wait "$stuck" 2>/dev/null || true
echo "ok: a stuck agent is named, nothing removed"

# The crashed agent's pid now belongs to an unrelated process (sleep dies
# of SIGUSR1): it is not signalled, down says no agent runs, exit 0, and
# removes what the agent made.
sleep 600 &
other=$!
pids+=("$other")
echo "$other" >"$pid_file"
down
alive "$other" || fail "down signalled pid $other, which the stale pid file names"
((rc == 0)) || fail "down with a stale pid file exited $rc, want 0: $(cat "$tmp/err")"
grep -qF "nsagent: no agent is running here: the pid file in $run_dir names pid $other, which does not hold it" "$tmp/err" ||
	fail "down with a stale pid file said: $(cat "$tmp/err")"
topology_gone || fail "down with a stale pid file left the topology"
echo "ok: a stale pid file's pid is not signalled; down still removes the topology"

# A running agent holds its pid file locked, and down stops it.
start_agent
flock --nonblock --shared "$pid_file" true && fail "the running agent does not hold its pid file locked"
down
((rc == 0)) || fail "down with a running agent exited $rc: $(cat "$tmp/err")"
grep -qF "no agent is running" "$tmp/err" && fail "down with a running agent said: $(cat "$tmp/err")"
alive "$agent" && fail "the agent still runs after down"
wait "$agent" || fail "the agent exited $? after down"
grep -qF "asked to leave the cluster (nsagent down)" "$tmp/agent.log" || fail "the agent did not log the leave"
[[ ! -e $pid_file ]] || fail "the agent left its pid file behind"
topology_gone || fail "down left the topology of a running agent"
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/agent.log" >&2; then
	fail "sanitizer report from the agent"
fi
echo "ok: a running agent is stopped"
echo PASS
