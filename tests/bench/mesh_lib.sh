# SPDX-License-Identifier: GPL-2.0-or-later
# tests/bench/mesh_lib.sh — multi-host benchmarks (sourced after lib.sh and
# after bench_start, which made the lab name and the temp dir).
#
# The benchmarks run outside the lab and drive agents in lab hosts that
# `deploy/lab up --no-agent` built. Agents are started here rather than by
# `deploy/lab agent` so that the timing is exact:
#   - mesh_spawn parks each agent's launcher before exec (it stops itself
#     with SIGSTOP); mesh_release waits until every launcher is stopped,
#     then continues them all with one kill(1) and records the release
#     time (the start of every convergence figure);
#   - each agent's stderr goes through a time stamper (perl, µs epoch) into
#     the host's agent.log, so "when did it log X" is exact;
#   - `ip -ts monitor route` in each host (mesh_monitor) records the
#     kernel's own time for every route the agent installs or deletes.
# Pid and log go where deploy/lab keeps them (HOST/agent.pid, agent.log),
# so `lab down` stops the agents and fails on a sanitizer report.
# shellcheck shell=bash
# shellcheck disable=SC2034 # OUT, OUT_BEFORE, MESH_AT, MESH_STATS(_BEFORE): read by the scripts that source this

PERL_STAMP='BEGIN { $| = 1 } printf "%.6f %s", Time::HiRes::time(), $_'

mesh_labdir() { LABDIR=/run/nsagent-lab/$NSAGENT_LAB; }

# mesh_lab_up N [up flags...]: a lab of N hosts without agents, with
# static ARP entries between the hosts (mesh_static_arp).
mesh_lab_up() {
	local n=$1
	shift
	lab up --hosts "$n" --no-agent "$@" >"$BENCH_TMP/lab-up.log" 2>&1 ||
		bench_fail "deploy/lab up --hosts $n: $(tail -5 "$BENCH_TMP/lab-up.log")"
	mesh_labdir
	mesh_static_arp "$n"
}

# mesh_static_arp N: every host gets a permanent ARP entry for every other
# host on its segment. The kernel's neighbour table is one for the whole
# machine, shared by every namespace: past gc_thresh3 (1024) entries it
# refuses new ones ("neighbor table overflow"), ARP fails and SYNs are
# lost (retransmitted after 1, 3, 7 s). A full mesh of 32 lab hosts needs
# 992 entries, so without this the lab, not the agent, decides the figure;
# real hosts each have their own table. Permanent entries are exempt from
# that count (Linux >= 4.19). IPv6 alike: the agents' /64 routes and
# IPv6 probes go via each host's link-local address on eth0, and without
# permanent entries a 64-host lab (4,032 of them) overflowed the IPv6
# table: probes were lost ("IPv6 data path ... broken"), retried every
# round, and neighbour creation showed in the agents' kernel time.
mesh_static_arp() {
	local n=$1 i j
	local -a mac=() seg=() ip=() ll=()
	for ((i = 1; i <= n; i++)); do
		mac[i]=$(in_host "$i" cat /sys/class/net/eth0/address)
		seg[i]=$(<"$LABDIR/host$i/switch")
		ip[i]=$(<"$LABDIR/host$i/ip")
		ll[i]=$(in_host "$i" ip -6 -o addr show dev eth0 scope link | awk '{sub(/\/.*/, "", $4); print $4; exit}')
	done
	for ((i = 1; i <= n; i++)); do
		for ((j = 1; j <= n; j++)); do
			((i != j)) && [[ ${seg[i]} == "${seg[j]}" ]] || continue
			echo "neigh replace ${ip[j]} lladdr ${mac[j]} dev eth0 nud permanent"
			[[ -z ${ll[j]} ]] || echo "neigh replace ${ll[j]} lladdr ${mac[j]} dev eth0 nud permanent"
		done | in_host "$i" ip -batch - || bench_fail "host$i: static neighbour entries"
	done
}

hd() { echo "$LABDIR/host$1"; }
host_ip() { echo "$(<"$LABDIR/host$1/ip")"; }
host_subnet() { echo "$(<"$LABDIR/host$1/subnet")"; }

# in_host I CMD...: runs CMD in host I (network and mount namespaces).
in_host() {
	local d=$LABDIR/host$1
	shift
	nsenter --net="$d/net" --mount="$d/mnt" --wd=/ -- "$@"
}

# poll_slow TIMEOUT_S CMD...: poll_until every 10 ms, for conditions read
# after the fact from time stamps (logs, monitors): polling faster would
# only take CPU from the agents being timed.
poll_slow() { poll_every 0.01 "$@"; }

# ------------------------------------------------------------ agents

declare -a MESH_PID=()   # agent pid per host index (0: none)
declare -a MESH_PARKED=() # launchers waiting for mesh_release
MESH_T0=

# mesh_spawn I ARGS...: an agent for host I, `nsagent run ARGS`, parked
# until mesh_release. Its pid (the launcher's, which execs nsenter, which
# execs nsagent) is MESH_PID[I].
mesh_spawn() {
	local i=$1 d
	shift
	d=$(hd "$i")
	printf '=== lab: %s: start %s run %s\n' "$(date '+%F %T')" "$NSAGENT" "$*" >>"$d/agent.log"
	(
		kill -STOP "$BASHPID"
		exec nsenter --net="$d/net" --mount="$d/mnt" --wd=/ -- "$NSAGENT" run "$@"
	) </dev/null >/dev/null 2> >(exec perl -MTime::HiRes -ne "$PERL_STAMP" >>"$d/agent.log") &
	MESH_PID[i]=$!
	echo "$!" >"$d/agent.pid"
	MESH_PARKED+=("$!")
}

all_parked() { all_stopped "${MESH_PARKED[@]}"; }

# mesh_release: every parked agent starts now; MESH_T0 = that time (µs).
mesh_release() {
	poll_until 10 all_parked || bench_fail "agent launchers did not park"
	MESH_T0=${EPOCHREALTIME/./}
	kill -CONT "${MESH_PARKED[@]}"
	MESH_PARKED=()
}

# At exit: launchers never released would wait forever.
mesh_cleanup() {
	local p
	for p in "${MESH_PARKED[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}

# mesh_stop I: SIGTERM host I's agent and check it exits 0.
mesh_stop() {
	local i=$1 pid=${MESH_PID[$1]:-0} rc=0
	((pid)) || return 0
	kill -TERM "$pid" 2>/dev/null || bench_fail "host$i: the agent is gone before the end: $(tail -5 "$(hd "$i")/agent.log")"
	wait "$pid" || rc=$?
	MESH_PID[i]=0
	((rc == 0)) || bench_fail "host$i: the agent exited $rc on SIGTERM: $(tail -5 "$(hd "$i")/agent.log")"
	bench_check_log "$(hd "$i")/agent.log"
}

# mesh_reset I: host I back to nothing: the agent stopped, everything it
# made removed (`nsagent down`), its state forgotten, so that the next run
# starts cold and the peers it learned do not turn a chain into a mesh.
mesh_reset() {
	local i=$1 d
	d=$(hd "$i")
	mesh_stop "$i"
	in_host "$i" "$NSAGENT" down >>"$BENCH_TMP/down.log" 2>&1 ||
		bench_fail "host$i: nsagent down: $(tail -5 "$BENCH_TMP/down.log")"
	find "$d/state" -mindepth 1 -delete
}

# mesh_alive I: the agent of host I runs.
mesh_alive() { kill -0 "${MESH_PID[$1]:-0}" 2>/dev/null; }

# mesh_ready I: host I's agent wrote its pid file (local topology done).
mesh_ready() { [[ -s /proc/${MESH_PID[$1]}/root/run/nsagent/nsagent.pid ]]; }

# mesh_log_us I REGEX [AFTER_US]: the stamp (µs) of the first line of host
# I's agent log matching REGEX, not before AFTER_US.
mesh_log_us() {
	RE=$2 AFTER=${3:-0} awk '$1 ~ /^[0-9]+\.[0-9]+$/ {
		us = $1 * 1000000
		if (us >= ENVIRON["AFTER"] + 0 && $0 ~ ENVIRON["RE"]) { printf "%.0f\n", us; exit }
	}' "$(hd "$1")/agent.log"
}

# mesh_chain_args I: the agent flags of host I in a chain (only host I-1
# as peer; host1 none). Extra flags follow.
mesh_chain_args() {
	local i=$1
	shift
	echo --node-ip
	host_ip "$i"
	echo --subnet
	host_subnet "$i"
	if ((i > 1)); then
		echo --peer
		host_ip $((i - 1))
	fi
	(($# == 0)) || printf '%s\n' "$@"
}

# mesh_spawn_chain N EXTRA...: agents on hosts 1..N as a chain, parked.
mesh_spawn_chain() {
	local n=$1 i args
	shift
	for ((i = 1; i <= n; i++)); do
		mapfile -t args < <(mesh_chain_args "$i" "$@")
		mesh_spawn "$i" "${args[@]}"
	done
}

# ------------------------------------------------------------ monitors

# mesh_monitor I: `ip -ts monitor route` in host I into $BENCH_TMP/mon.I
# (UTC stamps, µs); waits until it reports (a probe route).
mesh_monitor() {
	local i=$1 f=$BENCH_TMP/mon.$1 deadline
	: >"$f"
	in_host "$i" env TZ=UTC ip -ts monitor route >>"$f" 2>&1 &
	deadline=$((${EPOCHREALTIME/./} + 10000000))
	until grep -q "198\.18\.255\.$i " "$f"; do
		((${EPOCHREALTIME/./} < deadline)) || bench_fail "host$i: ip monitor does not report: $(head -c 300 "$f")"
		# add and delete: a replace of an existing route would be silent
		in_host "$i" sh -c "ip route add blackhole 198.18.255.$i/32; ip route del blackhole 198.18.255.$i/32" 2>/dev/null || true
		nap 0.01
	done
}

# AWK_MON_US: an awk function us(ts) turning an `ip -ts monitor` stamp
# "[2026-11-29T18:59:21.173476]" (UTC) into µs since the epoch; prepend it
# to an awk program that reads monitor files.
# shellcheck disable=SC2016
AWK_MON_US='
	function us(ts,   d, t, y, m, dd, era, yoe, doy, doe, days) {
		split(substr(ts, 2, 10), d, "-")
		split(substr(ts, 13, length(ts) - 13), t, ":")
		y = d[1] + 0; m = d[2] + 0; dd = d[3] + 0
		if (m <= 2) y--
		era = int(y / 400)
		yoe = y - era * 400
		doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + dd - 1
		doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
		days = era * 146097 + doe - 719468
		return ((days * 24 + t[1]) * 60 + t[2]) * 60e6 + t[3] * 1e6
	}
'

# mon_routes_at I WANT [AFTER_US]: the kernel time (µs epoch) at which host
# I first had WANT agent routes (proto nsagent/78; MON_PROTO, a regex,
# names another: bench_bgp.sh counts BIRD's, "bird|12") at once, replaying
# its monitor file from AFTER_US; nothing while it has not.
mon_routes_at() {
	WANT=$2 AFTER=${3:-0} PROTO=${MON_PROTO:-nsagent|78} awk "$AWK_MON_US"'
	/^\[/ && $0 ~ (" proto (" ENVIRON["PROTO"] ")( |$)") {
		t = us($1)
		if (t < ENVIRON["AFTER"] + 0) next
		del = ($2 == "Deleted")
		dst = del ? $3 : $2
		if (del) { if (dst in have) { delete have[dst]; n-- } }
		else if (!(dst in have)) { have[dst] = 1; n++ }
		if (n >= ENVIRON["WANT"] + 0) { printf "%.0f\n", t; exit }
	}' "$BENCH_TMP/mon.$1"
}

# n_agent_routes I: agent routes in host I's kernel now.
n_agent_routes() {
	local out
	out=$(in_host "$1" ip -4 route show proto 78)
	grep -c . <<<"$out" || true
}

# mesh_wait_converged N TIMEOUT_S: waits until hosts 1..N each had N-1
# agent routes (monitor files, from MESH_T0); sets MESH_LAST to the µs
# from MESH_T0 to the last host's convergence, and MESH_AT[I] per host.
declare -a MESH_AT=()
MESH_LAST=0
mesh_wait_converged() {
	local n=$1 deadline i t last=0
	deadline=$((${EPOCHREALTIME/./} + $2 * 1000000))
	MESH_AT=()
	for ((i = 1; i <= n; i++)); do
		until t=$(mon_routes_at "$i" $((n - 1)) "$MESH_T0") && [[ -n $t ]]; do
			if ((${EPOCHREALTIME/./} > deadline)); then
				echo "host$i: $(n_agent_routes "$i") of $((n - 1)) routes after $2 s" >&2
				return 1
			fi
			mesh_alive "$i" || bench_fail "host$i: the agent died: $(tail -5 "$(hd "$i")/agent.log")"
			nap 0.05
		done
		MESH_AT[i]=$((t - MESH_T0))
		((t - MESH_T0 > last)) && last=$((t - MESH_T0))
	done
	MESH_LAST=$last
}

# ------------------------------------------------------------ runs

# mesh_stats N: "RSS_SUM_KIB RSS_MAX_KIB CPU_SUM_MS" of the N agents.
mesh_stats() {
	local n=$1 i sum=0 max=0 cpu=0 r stat hz
	hz=$(getconf CLK_TCK)
	for ((i = 1; i <= n; i++)); do
		r=$(awk '$1 == "VmRSS:" {print $2}' "/proc/${MESH_PID[i]}/status")
		sum=$((sum + r))
		((r > max)) && max=$r
		stat=$(<"/proc/${MESH_PID[i]}/stat")
		stat=${stat##*) }
		# shellcheck disable=SC2086 # split the fields
		set -- $stat
		cpu=$((cpu + (${12} + ${13}) * 1000 / hz))
	done
	echo "$sum $max $cpu"
}

# With a cluster key (mesh_key_init), every agent of run_mesh gets it.
declare -a MESH_EXTRA=()

# mesh_key_init: a cluster key (`nsagent genkey`) for every run_mesh
# agent: each session then runs TLS 1.3 with the PSK, as in real use.
mesh_key_init() {
	(umask 077 && "$NSAGENT" genkey >"$BENCH_TMP/cluster.key") || bench_fail "nsagent genkey"
	MESH_EXTRA=(--key-file "$BENCH_TMP/cluster.key")
}

# MESH_BEFORE: a second agent binary (the one before a change), run by
# run_mesh_pair beside $NSAGENT on the same hosts; empty: none.
MESH_BEFORE=

# run_mesh_pair N: run_mesh with MESH_BEFORE (if set; OUT_BEFORE and
# MESH_STATS_BEFORE), then with $NSAGENT (OUT, MESH_STATS). Called once
# per run, the two alternate, so the load of a shared machine falls on
# both alike.
run_mesh_pair() {
	if [[ -n $MESH_BEFORE ]]; then
		NSAGENT=$MESH_BEFORE run_mesh "$1"
		OUT_BEFORE=$OUT
		MESH_STATS_BEFORE=$MESH_STATS
		MESH_IDLE_MS_BEFORE=$MESH_IDLE_MS
	fi
	run_mesh "$1"
}

# MESH_IDLE_S: when > 0, run_mesh also measures the agents' CPU over
# that many seconds once the mesh is whole (MESH_IDLE_MS, all agents):
# keepalives, hold timers and probes of N-1 sessions each. MESH_SETTLE_S
# seconds after the full mesh go by first (default 0): probes of a path
# that keeps answering thin out over its first 9 rounds (src/probe.c),
# so a window that opens at the full mesh measures that ramp, and one
# that opens 20 s later at the default 2 s interval the steady state.
MESH_IDLE_S=${MESH_IDLE_S:-0}
MESH_SETTLE_S=${MESH_SETTLE_S:-0}
MESH_IDLE_MS=

# run_mesh N: OUT = the µs from release to full mesh.
run_mesh() {
	local n=$1 i cpu0 cpu1
	mesh_spawn_chain "$n" "${MESH_EXTRA[@]}"
	mesh_release
	mesh_wait_converged "$n" 120 || bench_fail "N=$n: no full mesh within 120 s"
	MESH_STATS=$(mesh_stats "$n")
	if ((MESH_IDLE_S > 0)); then
		cpu0=${MESH_STATS##* }
		if ((MESH_SETTLE_S > 0)); then
			nap "$MESH_SETTLE_S"
			cpu0=$(mesh_stats "$n")
			cpu0=${cpu0##* }
		fi
		nap "$MESH_IDLE_S"
		cpu1=$(mesh_stats "$n")
		MESH_IDLE_MS=$((${cpu1##* } - cpu0))
	fi
	for ((i = 1; i <= n; i++)); do
		[[ $(n_agent_routes "$i") == $((n - 1)) ]] ||
			bench_fail "host$i: $(n_agent_routes "$i") routes, want $((n - 1))"
	done
	for ((i = 1; i <= n; i++)); do mesh_reset "$i"; done
	OUT=$MESH_LAST
}

all_ready() {
	local i
	for ((i = 1; i <= $1; i++)); do mesh_ready "$i" || return 1; done
}

# run_local N: OUT = µs from release to every agent (no peers) ready.
run_local() {
	local n=$1 i t
	for ((i = 1; i <= n; i++)); do
		mesh_spawn "$i" --node-ip "$(host_ip "$i")" --subnet "$(host_subnet "$i")"
	done
	mesh_release
	poll_until 60 all_ready "$n" || bench_fail "N=$n: agents without peers not ready in 60 s"
	t=$((${EPOCHREALTIME/./} - MESH_T0))
	for ((i = 1; i <= n; i++)); do mesh_reset "$i"; done
	OUT=$t
}

