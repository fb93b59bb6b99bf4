#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Mesh against BGP (issue 17): the same N nodes in both routing modes, in
# the same run.
#
#   bench_bgp.sh [--runs R] [--restart-time DURATION] N...
#                                        (default N: 16 32 64; R: 1)
#
# The modes take turns at going first, run by run (bgp first in the first).
# One lab of max(N) + 2 hosts (one switch); the last two are route
# reflectors (plain BIRD, deploy/bird/rr.conf), started once. For each N,
# nodes 1..N:
#   mesh  the agents as a chain (host I --peer host(I-1)), as
#         bench_scale.sh; converged when every node has N-1 agent routes;
#   bgp   every node runs BIRD (its bird.conf the one include line, the
#         include a placeholder with only a device protocol, as a BIRD
#         service is up before nsagent) and an
#         agent with --routing bgp --bgp-peer RR1 --bgp-peer RR2;
#         converged when every node has N-1 routes of BIRD's (proto bird).
# Per mode: convergence, from the release of all agents (parked, then
# continued at once) to the kernel time (`ip -ts monitor route`) at which
# the last node had all its routes; BGP/nsagent sessions per node; agent
# and BIRD memory per node (mean RSS and PSS, smaps_rollup) and the
# reflectors' BIRD; then node N dies (its switch port down, then its agent
# and BIRD killed: nothing gets out, as with a power loss) and the time
# until its route has left every other node's kernel. A mesh node keeps a
# silent peer's routes for the hold time (3 s) and then, stale, for the
# restart time (--restart-time, the agent's default 120 s; a shorter one
# keeps the run short and is printed with the figure); a BGP reflector's
# BFD finds the node down after 5 x 100 ms.
#
# The machine's load average is printed before and after: the figures of
# one run on a shared machine compare the modes, not machines.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

INCLUDE=/etc/nsagent/bird-nsagent.conf # in a host: its own /etc/nsagent

bench_extra_cleanup() { mesh_cleanup; }

# kib PID FIELD FILE: a "FIELD: N kB" line of /proc/PID/FILE.
kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/$3"; }

bird_pid() { in_host "$1" cat /run/bird/bird.pid; }
start_bird() {
	in_host "$1" sh -c 'mkdir -p /run/bird &&
		bird -c /etc/nsagent/bird.conf -s /run/bird/bird.ctl -P /run/bird/bird.pid' ||
		bench_fail "host$1: bird does not start"
}
stop_bird() {
	local pid
	pid=$(bird_pid "$1" 2>/dev/null) || return 0
	kill -KILL "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do nap 0.01; done
	in_host "$1" rm -f /run/bird/bird.pid /run/bird/bird.ctl
}

# mem_mean PID...: "RSS_KIB PSS_KIB", the means over the processes.
mem_mean() {
	local p rss=0 pss=0
	for p; do
		rss=$((rss + $(kib "$p" VmRSS status)))
		pss=$((pss + $(kib "$p" Pss smaps_rollup)))
	done
	echo "$((rss / $#)) $((pss / $#))"
}

# sessions_of I PORT: established TCP connections of PORT in host I.
sessions_of() {
	local out
	out=$(in_host "$1" ss -Htn state established "( sport = :$2 or dport = :$2 )")
	grep -c . <<<"$out" || true
}

# mon_deleted_at I PREFIX AFTER_US: the kernel time (µs) at which host I
# deleted its route to PREFIX, after AFTER_US; nothing while it has not.
mon_deleted_at() {
	NET=$2 AFTER=$3 awk "$AWK_MON_US"'
	/^\[/ && $2 == "Deleted" && $3 == ENVIRON["NET"] {
		t = us($1)
		if (t >= ENVIRON["AFTER"] + 0) { printf "%.0f\n", t; exit }
	}' "$BENCH_TMP/mon.$1"
}

# kill_node N: node N dies: switch port down first (no FIN, no
# notification gets out), then its agent and BIRD are killed. Sets DEAD_T0.
kill_node() {
	local n=$1
	DEAD_T0=${EPOCHREALTIME/./}
	nsenter --net="$LABDIR/switch/net" -- ip link set "host$n" down
	kill -KILL "${MESH_PID[n]}" 2>/dev/null || true
	wait "${MESH_PID[n]}" 2>/dev/null || true
	MESH_PID[n]=0
	stop_bird "$n"
}

# wait_withdrawn N TIMEOUT_S: every node 1..N-1 has deleted node N's
# route; OUT = µs from DEAD_T0 to the last deletion.
wait_withdrawn() {
	local n=$1 net i t last=0 deadline
	net=$(host_subnet "$n")
	deadline=$((${EPOCHREALTIME/./} + $2 * 1000000))
	for ((i = 1; i < n; i++)); do
		until t=$(mon_deleted_at "$i" "$net" "$DEAD_T0") && [[ -n $t ]]; do
			if ((${EPOCHREALTIME/./} > deadline)); then
				echo "host$i: $(in_host "$i" ip -4 route show "$net")" >&2
				in_host "$i" "$NSAGENT" status --json 2>/dev/null |
					jq -c --arg a "$(host_ip "$n")" '.peers[]? | select(.address == $a)' >&2 || true
				bench_fail "host$i kept $net $2 s after host$n died"
			fi
			nap 0.05
		done
		((t - DEAD_T0 > last)) && last=$((t - DEAD_T0))
	done
	OUT=$last
}

# revive N: node N's port back up, everything it made removed.
revive() {
	nsenter --net="$LABDIR/switch/net" -- ip link set "host$1" up
	in_host "$1" "$NSAGENT" down >>"$BENCH_TMP/down.log" 2>&1 || true
	find "$(hd "$1")/state" -mindepth 1 -delete
}

# run_mesh_mode N: CONV, SESS, AGENT_MEM, WITHDRAW of the mesh.
run_mesh_mode() {
	local n=$1 i pids=()
	mesh_spawn_chain "$n" --restart-time "$RESTART_TIME"
	mesh_release
	mesh_wait_converged "$n" 600 || bench_fail "mesh N=$n: no full mesh within 600 s"
	CONV=$MESH_LAST
	for ((i = 1; i <= n; i++)); do pids+=("${MESH_PID[i]}"); done
	AGENT_MEM=$(mem_mean "${pids[@]}")
	SESS=$(sessions_of 1 7470)
	kill_node "$n"
	wait_withdrawn "$n" $((RESTART_S + 120))
	WITHDRAW=$OUT
	for ((i = 1; i < n; i++)); do mesh_reset "$i"; done
	revive "$n"
}

# run_bgp_mode N: CONV, SESS, AGENT_MEM, BIRD_MEM, WITHDRAW of bgp mode.
run_bgp_mode() {
	local n=$1 i r h bfd_deadline pids=() bpids=()
	for ((i = 1; i <= n; i++)); do
		echo "include \"$INCLUDE\";" >"$(hd "$i")/etc/bird.conf"
		# A placeholder for the include until the agent writes it: BIRD
		# takes no config without a protocol.
		echo 'protocol device nsagent_device {}' >"$(hd "$i")/etc/bird-nsagent.conf"
		start_bird "$i"
		mesh_spawn "$i" --node-ip "$(host_ip "$i")" --subnet "$(host_subnet "$i")" \
			--routing bgp --bgp-peer "$RR1" --bgp-peer "$RR2" --bird-config "$INCLUDE" \
			--bird-socket /run/bird/bird.ctl
	done
	mesh_release
	MON_PROTO='bird|12' mesh_wait_converged "$n" 600 || bench_fail "bgp N=$n: not converged within 600 s"
	CONV=$MESH_LAST
	for ((i = 1; i <= n; i++)); do
		pids+=("${MESH_PID[i]}")
		bpids+=("$(bird_pid "$i")")
	done
	AGENT_MEM=$(mem_mean "${pids[@]}")
	BIRD_MEM=$(mem_mean "${bpids[@]}")
	RR_MEM=$(mem_mean "$(bird_pid "$RR1_HOST")" "$(bird_pid "$RR2_HOST")")
	SESS=$(sessions_of 1 179)
	h=$(host_ip "$n")
	bfd_deadline=$((${EPOCHREALTIME/./} + 60000000))
	[[ $(sessions_of 1 7470) == 0 ]] || bench_fail "bgp N=$n: nsagent sessions in bgp mode"
	# BIRD asks for a session's BFD once it is established: a node killed
	# before its BFD is Up is noticed at BGP's hold time (240 s).
	for r in "$RR1_HOST" "$RR2_HOST"; do
		until in_host "$r" birdc -s /run/bird/bird.ctl show bfd sessions |
			grep -Eq "^${h//./\\.}[[:space:]].*[[:space:]]Up[[:space:]]"; do
			((${EPOCHREALTIME/./} < bfd_deadline)) || bench_fail "bgp N=$n: host$r has no BFD session Up with host$n"
			nap 0.05
		done
	done
	kill_node "$n"
	wait_withdrawn "$n" 120
	WITHDRAW=$OUT
	for ((i = 1; i < n; i++)); do
		stop_bird "$i"
		mesh_reset "$i"
		# BIRD leaves its routes (persist); the next run starts clean.
		in_host "$i" ip route flush proto bird
		in_host "$i" ip -6 route flush proto bird
		rm -f "$(hd "$i")/etc/bird-nsagent.conf"
	done
	revive "$n"
	in_host "$n" ip route flush proto bird
	in_host "$n" ip -6 route flush proto bird
	rm -f "$(hd "$n")/etc/bird-nsagent.conf"
	# The reflectors start over too. Kept, they held the last run's
	# clients (the dead one's session retrying, "BFD session down"), and
	# the next run's first at a larger N took 24 to 72 s to converge
	# instead of 7 s (with this session's build and the one before).
	for i in "$RR1_HOST" "$RR2_HOST"; do
		stop_bird "$i"
		start_bird "$i"
	done
}

# one_mesh N R, one_bgp N R: one run of a mode, printed at once and added
# to main's arrays (mc, mw, ms_, mmem; bc, bw, bs_, bmem, bird_mem, rr_mem).
one_mesh() {
	local n=$1 r=$2
	run_mesh_mode "$n"
	echo "N=$n run $((r + 1)): mesh converged in $(ms "$CONV") ms, $SESS sessions, agent RSS/PSS KiB $AGENT_MEM, dead node withdrawn in $(ms "$WITHDRAW") ms"
	mc+=("$CONV")
	mw+=("$WITHDRAW")
	ms_=$SESS
	mmem=$AGENT_MEM
}

one_bgp() {
	local n=$1 r=$2
	run_bgp_mode "$n"
	echo "N=$n run $((r + 1)): bgp converged in $(ms "$CONV") ms, $SESS sessions, agent RSS/PSS KiB $AGENT_MEM, BIRD $BIRD_MEM, dead node withdrawn in $(ms "$WITHDRAW") ms"
	bc+=("$CONV")
	bw+=("$WITHDRAW")
	bs_=$SESS
	bmem=$AGENT_MEM
	bird_mem=$BIRD_MEM
	rr_mem=$RR_MEM
}

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

main() {
	local runs=1 sizes=() n r max=0
	RESTART_TIME=120s
	while (($#)); do
		case $1 in
		--runs) runs=${2:?--runs needs a number}; shift 2 ;;
		--restart-time) RESTART_TIME=${2:?--restart-time needs a duration}; shift 2 ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		*) [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 3 && $1 <= 248)) || bench_fail "N must be 3..248, got '$1'"
		   sizes+=("$1"); shift ;;
		esac
	done
	((${#sizes[@]})) || sizes=(16 32 64)
	[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1)) || bench_fail "--runs needs a positive number"
	[[ $RESTART_TIME =~ ^([0-9]+)s$ ]] || bench_fail "--restart-time takes whole seconds (e.g. 120s)"
	RESTART_S=${BASH_REMATCH[1]}
	command -v bird >/dev/null || bench_fail "bird (Debian's bird2) is not installed: deploy/deps.sh"
	for n in "${sizes[@]}"; do ((n > max)) && max=$n; done
	bench_start bench_bgp
	# shellcheck source=mesh_lib.sh
	source "$BENCH_DIR/mesh_lib.sh"
	bench_sleep_init
	echo "bench_bgp: agent $NSAGENT ($(bench_agent_kind)), $(bird --version 2>&1 | head -1), $(nproc) CPUs, kernel $(uname -r), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM"
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	mesh_lab_up $((max + 2))
	RR1_HOST=$((max + 1))
	RR2_HOST=$((max + 2))
	RR1=$(host_ip "$RR1_HOST")
	RR2=$(host_ip "$RR2_HOST")
	for r in "$RR1_HOST" "$RR2_HOST"; do
		echo "include \"$NSAGENT_SOURCE_DIR/deploy/bird/rr.conf\";" >"$(hd "$r")/etc/bird.conf"
		start_bird "$r"
	done
	for ((r = 1; r <= max; r++)); do mesh_monitor "$r"; done
	echo "lab: $max nodes and 2 reflectors ($RR1, $RR2); mesh restart time $RESTART_TIME"
	for n in "${sizes[@]}"; do
		local -a mc=() bc=() mw=() bw=()
		local ms_ bs_ mmem bmem bird_mem rr_mem
		for ((r = 0; r < runs; r++)); do
			# The modes take turns at going first (bgp in the first
			# run), so that a drift of the machine's load falls on both.
			if ((r % 2 == 0)); then
				one_bgp "$n" "$r"
				one_mesh "$n" "$r"
			else
				one_mesh "$n" "$r"
				one_bgp "$n" "$r"
			fi
		done
		local mcm bcm mwm bwm
		mcm=$(median "${mc[@]}")
		bcm=$(median "${bc[@]}")
		mwm=$(median "${mw[@]}")
		bwm=$(median "${bw[@]}")
		echo
		echo "== N=$n nodes, median of $runs run(s)"
		printf '%-6s %14s %10s %18s %18s %16s\n' mode "converge ms" sessions "agent RSS/PSS MiB" \
			"BIRD RSS/PSS MiB" "withdraw ms"
		read -r a_rss a_pss <<<"$mmem"
		printf '%-6s %14s %10s %18s %18s %16s\n' mesh "$(ms "$mcm")" "$ms_" \
			"$(mib "$a_rss")/$(mib "$a_pss")" - "$(ms "$mwm")"
		read -r a_rss a_pss <<<"$bmem"
		read -r b_rss b_pss <<<"$bird_mem"
		read -r r_rss r_pss <<<"$rr_mem"
		printf '%-6s %14s %10s %18s %18s %16s\n' bgp "$(ms "$bcm")" "$bs_" \
			"$(mib "$a_rss")/$(mib "$a_pss")" "$(mib "$b_rss")/$(mib "$b_pss")" "$(ms "$bwm")"
		echo "reflectors' BIRD: RSS $(mib "$r_rss") MiB, PSS $(mib "$r_pss") MiB each (mean)"
		echo "bgp / mesh convergence: $(ratio "$bcm" "$mcm")x"
		echo "RESULT bgp n=$n runs=$runs mesh_ms=$(ms "$mcm") bgp_ms=$(ms "$bcm") mesh_sessions=$ms_ bgp_sessions=$bs_ mesh_agent_pss_kib=$(cut -d' ' -f2 <<<"$mmem") bgp_agent_pss_kib=$(cut -d' ' -f2 <<<"$bmem") bird_pss_kib=$b_pss rr_pss_kib=$r_pss mesh_withdraw_ms=$(ms "$mwm") bgp_withdraw_ms=$(ms "$bwm") mesh_restart_time=$RESTART_TIME"
	done
	echo
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

main "$@"
