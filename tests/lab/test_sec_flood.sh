#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Floods against host1 while it has a session with host2:
#   - malformed frames (oversize, zero length, random bytes, absurd values,
#     and a truncated frame that then stalls): each connection is closed by
#     the agent, which stays up; over 10,000 such connections its RSS grows
#     by less than 1 MiB;
#   - 1,000 idle half-open connections: the session with host2 misses no
#     keepalive (its TCP connection stays the same one);
#   - peer-list poisoning with 10,000 made-up addresses: known peers stay
#     within max-peers, new dials within the dial rate, memory bounded.
# host1 runs with --accept-rate 1000000 so that the malformed frames reach
# the decoder instead of being refused at accept; the half-open flood and
# the poisoning then run with the default limits after a restart.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

# Under ASan, freed memory sits in a quarantine and use-after-return
# detection keeps fake stacks: both would read as growth, so both are off
# for these agents (leak detection stays on).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0:detect_stack_use_after_return=0

lab_init sec_flood
lab up --hosts 2 --name "$NSAGENT_LAB" -- --accept-rate 1000000 >/dev/null || fail "deploy/lab up"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer"

# delta HOST NAME BEFORE: how much HOST's counter NAME grew since BEFORE.
delta() {
	local now
	now=$(counter "$1" "$2") || fail "$1's status has no counter $2"
	echo $((now - $3))
}

# ---- malformed frames ----
conn=$(one_session host1 192.168.1.6)
declare -A before
for c in frames_oversize frames_malformed handshake_timeouts hellos_refused; do
	before[$c]=$(counter host1 "$c") || fail "host1's status has no counter $c"
done
for kind in oversize zero random absurd; do
	out=$(fakepeer host2 raw --connect 192.168.1.5:7470 --kind "$kind" --count 5) ||
		fail "$kind: the agent left a connection open: $out"
	echo "$kind: $out"
done
out=$(fakepeer host2 raw --connect 192.168.1.5:7470 --kind truncated --count 2) ||
	fail "truncated: not closed: $out"
echo "truncated: $out"
# each kind counted: oversize; zero and random; truncated; absurd
for c in frames_oversize frames_malformed handshake_timeouts hellos_refused; do
	(($(delta host1 "$c" "${before[$c]}") > 0)) || fail "host1 did not count $c"
done
agent_alive host1 || fail "host1's agent died"

fakepeer host2 raw --connect 192.168.1.5:7470 --kind mixed --count 1000 >/dev/null
rss0=$(rss_kib host1)
out=$(fakepeer host2 raw --connect 192.168.1.5:7470 --kind mixed --count 10000)
rss1=$(rss_kib host1)
echo "10,000 malformed connections: $out; host1 RSS $rss0 -> $rss1 KiB"
agent_alive host1 || fail "host1's agent died"
((rss1 - rss0 < 1024)) || fail "host1's RSS grew by $((rss1 - rss0)) KiB over 10,000 connections"
no_flap host1 "$conn" 192.168.1.6 || fail "host1's session flapped during the malformed frames"
poll 30 mesh_ready 2 || fail "mesh lost"

# ---- half-open flood, default limits ----
lab agent host1 restart -- --log-level info >/dev/null || fail "restart host1"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer again"
conn=$(one_session host1 192.168.1.6)
conn2=$(one_session host2 192.168.1.5)
refused=$(counter host1 accepts_refused) || fail "host1's status has no accepts_refused"
fakepeer host2 idle --connect 192.168.1.5:7470 --count 1000 --hold 8 &
flood=$!
sleep_until=$((SECONDS + 8))
# (mesh_ready counts TCP sessions on the port: the flood's would count too)
while ((SECONDS < sleep_until)); do
	[[ $(n_routes host1) == 1 && $(n_routes host2) == 1 ]] ||
		fail "routes lost during the half-open flood"
	sleep 0.5
done
wait "$flood" || fail "fakepeer idle failed"
no_flap host1 "$conn" 192.168.1.6 || fail "host1's session flapped during the half-open flood"
no_flap host2 "$conn2" 192.168.1.5 || fail "host2's session flapped"
(($(delta host1 accepts_refused "$refused") > 0)) || fail "host1 refused none of the half-open connections"

# ---- peer-list poisoning ----
conn=$(one_session host1 192.168.1.6)
rss0=$(rss_kib host1)
dials=$(counter host1 dials) || fail "host1's status has no dials counter"
refused=$(counter host1 peers_refused) || fail "host1's status has no peers_refused"
start=$EPOCHREALTIME
# From host1's own namespace: another source address than the flood's,
# whose accept bucket may still be empty (that is the limit working). The
# node IP is the address it connects from, as a keyless session needs.
lab exec host1 -- ip addr add 192.168.1.200/24 dev eth0
fakepeer host1 session --connect 192.168.1.5:7470 --node-ip 192.168.1.200 --from 192.168.1.200 \
	--peers 10000 --hold 10 || fail "fake session with 10,000 peers did not stay up"
dials=$(delta host1 dials "$dials")
# the interval holds both counter reads: the dials it counted fit in it
elapsed_ms=$(((${EPOCHREALTIME/./} - ${start/./}) / 1000))
rss1=$(rss_kib host1)
refused=$(delta host1 peers_refused "$refused")
known=$(status_json host1 | jq '.peers | length')
echo "poisoning: $known known peers, $refused refused, $dials dials in ${elapsed_ms} ms, RSS $rss0 -> $rss1 KiB"
((known <= 256)) || fail "$known peers known, over max-peers"
((refused > 0)) || fail "no relayed peer refused over max-peers"
# A peer's first dial since it joined the table takes no token (a list
# is dialled at once), so a poisoned list buys one dial per place it took
# in the table (at most max-peers); every redial is held to the default
# dial rate, 10/s with a burst of 10.
((dials <= known + (10 * elapsed_ms + 999) / 1000 + 10)) ||
	fail "$dials dials in ${elapsed_ms} ms for $known known peers: over one first dial each plus the dial rate"
((rss1 - rss0 < 4096)) || fail "RSS grew by $((rss1 - rss0)) KiB with 10,000 fake peers"
agent_alive host1 || fail "host1's agent died"
poll 30 mesh_ready 2 || fail "mesh lost after poisoning"
no_flap host1 "$conn" 192.168.1.6 || fail "host1's session flapped during the poisoning"
echo PASS
