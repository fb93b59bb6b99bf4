#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Scale: the largest lab this machine holds, and its convergence.
#
#   bench_scale.sh [--runs R] [--key] [--before BIN] [--idle S]
#                  [--settle W] [N]
#                                        (default N: 64; R: 3)
#
# Builds a lab of N hosts (deploy/lab, one switch; the time to build it is
# reported), then, like bench_converge.sh, starts N agents as a chain
# (host I --peer host(I-1)) and times the full mesh: every host with N-1
# routes, from the release of all agents to the kernel time of the last
# route. Reported with the agents' memory (sum and largest RSS) and CPU
# at convergence, and the reference measured in the same run: the same N
# agents without peers, release -> every local topology ready.
#
# Limits of one machine: every lab host's agent makes 2 namespaces (3N
# network namespaces in all), N(N-1) TCP sessions exist at once, and the
# kernel's neighbour table, shared by all namespaces, would overflow
# without the lab's permanent ARP entries (mesh_lib.sh). 64 hosts: 4032
# routes, 2016 sessions.
#
# --key: every agent runs with a cluster key (TLS 1.3, PSK), as in real
# use. --before BIN: the same runs with another agent binary too (built
# from an earlier commit), alternating with $NSAGENT run by run, and
# printed beside it. --idle S: after each full mesh, the agents' CPU over
# S more seconds (steady state: N-1 sessions each, keepalives only),
# reported as the median run's share of one CPU per agent. --settle W:
# that window opens W seconds after the full mesh (default 0), once the
# probes of steady paths have thinned out (20 s at the default interval).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

bench_extra_cleanup() { mesh_cleanup; }

# idle_line WHO CPU_MS N: the steady-state CPU of N agents over
# MESH_IDLE_S seconds, per agent, as a share of one CPU.
idle_line() {
	printf '%s: idle from %s s after the full mesh, %s s: CPU %s ms in all, %s %% of a CPU per agent (%s peers each)\n' \
		"$1" "$MESH_SETTLE_S" "$MESH_IDLE_S" "$2" "$(awk -v c="$2" -v n="$3" -v s="$MESH_IDLE_S" 'BEGIN {printf "%.2f", c / n / (s * 10)}')" "$(($3 - 1))"
	echo "RESULT scale_idle who=$1 n=$3 settle=$MESH_SETTLE_S seconds=$MESH_IDLE_S cpu_ms=$2"
}

main() {
	local runs=3 n=64 r t0 t_lab key='' before=''
	while (($#)); do
		case $1 in
		--runs) runs=${2:?--runs needs a number}; shift 2 ;;
		--key) key=1; shift ;;
		--before) before=${2:?--before needs a binary}; shift 2 ;;
		--idle) MESH_IDLE_S=${2:?--idle needs seconds}; shift 2
		   [[ $MESH_IDLE_S =~ ^[0-9]+$ ]] || bench_fail "--idle needs whole seconds" ;;
		--settle) MESH_SETTLE_S=${2:?--settle needs seconds}; shift 2
		   [[ $MESH_SETTLE_S =~ ^[0-9]+$ ]] || bench_fail "--settle needs whole seconds" ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		*) [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 2 && $1 <= 250)) || bench_fail "N must be 2..250, got '$1'"
		   n=$1; shift ;;
		esac
	done
	[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1)) || bench_fail "--runs needs a positive number"
	bench_start bench_scale
	# shellcheck source=mesh_lib.sh
	source "$BENCH_DIR/mesh_lib.sh"
	bench_sleep_init
	[[ -z $before ]] || [[ -x $before ]] || bench_fail "--before $before is not executable"
	# shellcheck disable=SC2034 # read by run_mesh_pair (mesh_lib.sh)
	MESH_BEFORE=$before
	[[ -z $key ]] || mesh_key_init
	t0=${EPOCHREALTIME/./}
	mesh_lab_up "$n"
	t_lab=$((${EPOCHREALTIME/./} - t0))
	echo "bench_scale: agent $NSAGENT ($(bench_agent_kind)), $(nproc) CPUs, kernel $(uname -r), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM"
	echo "lab of $n hosts built in $(ms "$t_lab") ms; $(if [[ -n $key ]]; then echo "with a cluster key (TLS 1.3, PSK)"; else echo "no cluster key"; fi)"
	[[ -z $before ]] || echo "before: $before (runs alternate with it)"
	for ((r = 1; r <= n; r++)); do mesh_monitor "$r"; done
	local -a mesh=() loc=() stats=() mesh_b=() stats_b=() idle=() idle_b=()
	for ((r = 0; r < runs; r++)); do
		run_mesh_pair "$n"
		mesh+=("$OUT")
		stats+=("$MESH_STATS")
		idle+=("${MESH_IDLE_MS:-0}")
		if [[ -n $before ]]; then
			mesh_b+=("$OUT_BEFORE")
			stats_b+=("$MESH_STATS_BEFORE")
			idle_b+=("${MESH_IDLE_MS_BEFORE:-0}")
		fi
		run_local "$n"
		loc+=("$OUT")
	done
	local m l hi rss_sum rss_max cpu
	m=$(median "${mesh[@]}")
	l=$(median "${loc[@]}")
	hi=$(printf '%s\n' "${mesh[@]}" | sort -n | tail -1)
	read -r rss_sum rss_max cpu <<<"${stats[-1]}"
	echo
	echo "== scale: chain of $n hosts -> full mesh ($((n * (n - 1))) routes, $((n * (n - 1) / 2)) sessions), median of $runs runs"
	printf '%-44s %10s ms   (max %s)\n' "nsagent: release -> last host's routes" "$(ms "$m")" "$(ms "$hi")"
	printf '%-44s %10s ms\n' "local: agents without peers ready" "$(ms "$l")"
	printf 'agents at convergence: RSS %s MiB in all, largest %s KiB; CPU %s ms in all (%s ms per agent)\n' \
		"$(awk -v k="$rss_sum" 'BEGIN {printf "%.1f", k / 1024}')" "$rss_max" "$cpu" "$((cpu / n))"
	printf 'nsagent %s ms; %sx local bring-up\n' "$(ms "$m")" "$(ratio "$m" "$l")"
	if ((MESH_IDLE_S > 0)); then
		idle_line nsagent "$(median "${idle[@]}")" "$n"
		[[ -z $before ]] || idle_line before "$(median "${idle_b[@]}")" "$n"
	fi
	echo "RESULT scale n=$n key=${key:-0} lab_ms=$(ms "$t_lab") nsagent_ms=$(ms "$m") max_ms=$(ms "$hi") local_ms=$(ms "$l") ratio_local=$(ratio "$m" "$l") rss_sum_kib=$rss_sum rss_max_kib=$rss_max cpu_ms=$cpu"
	if [[ -n $before ]]; then
		local mb hib cpub rss_sumb rss_maxb
		mb=$(median "${mesh_b[@]}")
		hib=$(printf '%s\n' "${mesh_b[@]}" | sort -n | tail -1)
		read -r rss_sumb rss_maxb cpub <<<"${stats_b[-1]}"
		printf '%-44s %10s ms   (max %s)\n' "before: release -> last host's routes" "$(ms "$mb")" "$(ms "$hib")"
		printf 'before, at convergence: RSS %s MiB in all, largest %s KiB; CPU %s ms in all (%s ms per agent)\n' \
			"$(awk -v k="$rss_sumb" 'BEGIN {printf "%.1f", k / 1024}')" "$rss_maxb" "$cpub" "$((cpub / n))"
		printf 'nsagent / before: time %sx, CPU %sx\n' "$(ratio "$m" "$mb")" "$(ratio "$cpu" "$cpub")"
		echo "RESULT scale_before n=$n key=${key:-0} nsagent_ms=$(ms "$mb") max_ms=$(ms "$hib") rss_sum_kib=$rss_sumb rss_max_kib=$rss_maxb cpu_ms=$cpub"
	fi
}

main "$@"
