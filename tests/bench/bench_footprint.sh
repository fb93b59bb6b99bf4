#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Footprint of an idle agent: memory and CPU over a period once it is ready.
#
#   bench_footprint.sh [--hosts H] [SECONDS]   (default 60; the README uses 60)
#
# --hosts H (H >= 2): a lab of H hosts whose agents form a chain closed
# into a full mesh (tests/bench/mesh_lib.sh), so host1's agent has H-1
# peers (H = 33 for 32 peers); once the mesh is whole, host1's agent is
# measured the same way, with `ip monitor all` in host1 as reference.
#
# The agent (NS1, NS2 on 172.16.0.0/24, no peers yet) runs in a lab host
# and is left alone for SECONDS. Reported from /proc: VmRSS at the end,
# VmHWM (peak RSS), Pss and Private_Dirty (smaps_rollup: what the agent
# costs beyond the shared libraries), and the CPU time it used. Reference,
# same host, same period: `ip monitor all`, the smallest idle netlink
# listener among the public tools. Targets: RSS <= 8 MiB, CPU ~ 0.
# Use a non-sanitizer build (the default: build-bench/, Release): a
# sanitizer's shadow memory makes RSS meaningless.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TARGET_RSS_KIB=8192

# ------------------------------------------------------------- inside

# kib PID FIELD FILE: a "Field: N kB" value from /proc/PID/FILE.
kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/$3"; }

# cpu_ticks PID: utime + stime (fields 14 and 15 of /proc/PID/stat, after
# the parenthesised command name, which may contain spaces).
cpu_ticks() {
	local stat
	stat=$(<"/proc/$1/stat")
	stat=${stat##*) }
	# shellcheck disable=SC2086 # split the fields
	set -- $stat
	echo $((${12} + ${13}))
}

AGENT_PID=
REF_PID=
inside() {
	local period=$1
	bench_sleep_init
	: >"$BENCH_TMP/empty.conf"
	"$NSAGENT" run --config "$BENCH_TMP/empty.conf" --subnet 172.16.0.0/24 \
		--namespaces NS1,NS2 >>"$BENCH_TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	ip monitor all >/dev/null 2>&1 &
	REF_PID=$!
	trap 'kill $AGENT_PID $REF_PID 2>/dev/null; wait' EXIT
	poll_until 30 test -s /run/nsagent/nsagent.pid || bench_fail "nsagent not ready: $(tail -5 "$BENCH_TMP/agent.log")"

	measure "$period" "$AGENT_PID" "$REF_PID" "$BENCH_TMP/agent.log" "2 namespaces, no peers"
	bench_stop_agent "$AGENT_PID" "$BENCH_TMP/agent.log"
}

# measure PERIOD AGENT_PID REF_PID LOG LABEL: the report.
measure() {
	local period=$1 hz a0 r0 a1 r1 p
	local -A pid=([agent]=$2 [ref]=$3)
	hz=$(getconf CLK_TCK)
	a0=$(cpu_ticks "${pid[agent]}")
	r0=$(cpu_ticks "${pid[ref]}")
	nap "$period"
	kill -0 "${pid[agent]}" 2>/dev/null || bench_fail "nsagent died: $(tail -5 "$4")"
	kill -0 "${pid[ref]}" 2>/dev/null || bench_fail "ip monitor died"
	a1=$(cpu_ticks "${pid[agent]}")
	r1=$(cpu_ticks "${pid[ref]}")
	local -A RSS=() HWM=() PSS=() PRIV=() CPU=()
	for p in agent ref; do
		RSS[$p]=$(kib "${pid[$p]}" VmRSS status)
		HWM[$p]=$(kib "${pid[$p]}" VmHWM status)
		PSS[$p]=$(kib "${pid[$p]}" Pss smaps_rollup)
		PRIV[$p]=$(kib "${pid[$p]}" Private_Dirty smaps_rollup)
	done
	CPU[agent]=$(((a1 - a0) * 1000 / hz))
	CPU[ref]=$(((r1 - r0) * 1000 / hz))
	echo
	echo "== footprint of an idle agent over ${period} s ($5)"
	printf '%-22s %10s %10s %10s %14s %12s\n' process "RSS KiB" "peak KiB" "PSS KiB" \
		"priv.dirty KiB" "CPU ms"
	for p in agent ref; do
		printf '%-22s %10s %10s %10s %14s %12s\n' "$([[ $p == agent ]] && echo nsagent || echo "ip monitor all (ref)")" \
			"${RSS[$p]}" "${HWM[$p]}" "${PSS[$p]}" "${PRIV[$p]}" "${CPU[$p]}"
	done
	printf 'RSS: nsagent peak %s MiB vs ip monitor %s MiB = %sx; target <= 8 MiB: %s\n' \
		"$(awk -v k="${HWM[agent]}" 'BEGIN {printf "%.1f", k / 1024}')" \
		"$(awk -v k="${RSS[ref]}" 'BEGIN {printf "%.1f", k / 1024}')" "$(ratio "${HWM[agent]}" "${RSS[ref]}")" \
		"$(verdict "${HWM[agent]}" $TARGET_RSS_KIB)"
	printf 'CPU: nsagent %s ms over %s s (%s%%), ip monitor %s ms; target ~0\n' "${CPU[agent]}" \
		"$period" "$(awk -v c="${CPU[agent]}" -v p="$period" 'BEGIN {printf "%.3f", c / (p * 10)}')" \
		"${CPU[ref]}"
	echo "RESULT footprint peers=${PEERS:-0} period_s=$period nsagent_rss_kib=${RSS[agent]} nsagent_peak_kib=${HWM[agent]} nsagent_pss_kib=${PSS[agent]} nsagent_cpu_ms=${CPU[agent]} ref_rss_kib=${RSS[ref]} ref_cpu_ms=${CPU[ref]} target_rss_kib=$TARGET_RSS_KIB"
}

# with_peers HOSTS PERIOD: host1's agent in a full mesh of HOSTS.
with_peers() {
	local n=$1 period=$2 i ref
	# shellcheck source=mesh_lib.sh
	source "$BENCH_DIR/mesh_lib.sh"
	bench_extra_cleanup() { mesh_cleanup; }
	bench_sleep_init
	mesh_lab_up "$n"
	echo "bench_footprint: agent $NSAGENT ($(bench_agent_kind)), $(nproc) CPUs, kernel $(uname -r), $n hosts"
	for ((i = 1; i <= n; i++)); do mesh_monitor "$i"; done
	mesh_spawn_chain "$n"
	mesh_release
	mesh_wait_converged "$n" 120 || bench_fail "no full mesh of $n hosts"
	echo "full mesh of $n hosts after $(ms "$MESH_LAST") ms"
	nsenter --net="$(hd 1)/net" -- ip monitor all >/dev/null 2>&1 &
	ref=$!
	PEERS=$((n - 1))
	measure "$period" "${MESH_PID[1]}" "$ref" "$(hd 1)/agent.log" "host1 of $n, $PEERS peers, 2 namespaces"
	kill "$ref"
	for ((i = 1; i <= n; i++)); do mesh_alive "$i" || bench_fail "host$i: the agent died"; done
	for ((i = 1; i <= n; i++)); do mesh_stop "$i"; done
}

# ------------------------------------------------------------ outside

main() {
	local period=60 hosts=1
	while (($#)); do
		case $1 in
		--in-host) shift; inside "$@"; return ;;
		--hosts) hosts=${2:?--hosts needs a number}; shift 2
		   [[ $hosts =~ ^[0-9]+$ ]] && ((hosts >= 1 && hosts <= 250)) || bench_fail "--hosts: 1..250" ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		*) [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1)) || bench_fail "SECONDS must be a positive number"
		   period=$1; shift ;;
		esac
	done
	bench_start bench_footprint
	if ((hosts > 1)); then
		with_peers "$hosts" "$period"
		return
	fi
	lab up --hosts 1 --no-agent >/dev/null
	echo "bench_footprint: agent $NSAGENT ($(bench_agent_kind)), $(nproc) CPUs, kernel $(uname -r)"
	bench_in_host host1 "$(readlink -f "$0")" "$period"
}

main "$@"
