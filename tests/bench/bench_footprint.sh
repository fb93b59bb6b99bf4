#!/usr/bin/env bash
# Footprint of an idle agent: memory and CPU over a period once it is ready.
#
#   bench_footprint.sh [SECONDS]        (default 60; the README uses 60)
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
	local period=$1 hz
	bench_sleep_init
	hz=$(getconf CLK_TCK)
	: >"$BENCH_TMP/empty.conf"
	"$NSAGENT" run --config "$BENCH_TMP/empty.conf" --subnet 172.16.0.0/24 \
		--namespaces NS1,NS2 >>"$BENCH_TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	ip monitor all >/dev/null 2>&1 &
	REF_PID=$!
	trap 'kill $AGENT_PID $REF_PID 2>/dev/null; wait' EXIT
	poll_until 30 test -s /run/nsagent/nsagent.pid || bench_fail "nsagent not ready: $(tail -5 "$BENCH_TMP/agent.log")"

	local a0 r0 a1 r1
	a0=$(cpu_ticks "$AGENT_PID")
	r0=$(cpu_ticks "$REF_PID")
	nap "$period"
	kill -0 "$AGENT_PID" 2>/dev/null || bench_fail "nsagent died: $(tail -5 "$BENCH_TMP/agent.log")"
	kill -0 "$REF_PID" 2>/dev/null || bench_fail "ip monitor died"
	a1=$(cpu_ticks "$AGENT_PID")
	r1=$(cpu_ticks "$REF_PID")

	local p rss hwm pss priv cpu
	local -A RSS=() HWM=() PSS=() PRIV=() CPU=()
	for p in agent ref; do
		local pid
		if [[ $p == agent ]]; then pid=$AGENT_PID; else pid=$REF_PID; fi
		RSS[$p]=$(kib "$pid" VmRSS status)
		HWM[$p]=$(kib "$pid" VmHWM status)
		PSS[$p]=$(kib "$pid" Pss smaps_rollup)
		PRIV[$p]=$(kib "$pid" Private_Dirty smaps_rollup)
	done
	CPU[agent]=$(((a1 - a0) * 1000 / hz))
	CPU[ref]=$(((r1 - r0) * 1000 / hz))

	echo
	echo "== footprint of an idle agent over ${period} s (2 namespaces, no peers)"
	printf '%-22s %10s %10s %10s %14s %12s\n' process "RSS KiB" "peak KiB" "PSS KiB" \
		"priv.dirty KiB" "CPU ms"
	printf '%-22s %10s %10s %10s %14s %12s\n' nsagent "${RSS[agent]}" "${HWM[agent]}" \
		"${PSS[agent]}" "${PRIV[agent]}" "${CPU[agent]}"
	printf '%-22s %10s %10s %10s %14s %12s\n' "ip monitor all (ref)" "${RSS[ref]}" "${HWM[ref]}" \
		"${PSS[ref]}" "${PRIV[ref]}" "${CPU[ref]}"
	local r
	r=$(ratio "${HWM[agent]}" "${RSS[ref]}")
	printf 'RSS: nsagent peak %s MiB vs ip monitor %s MiB = %sx; target <= 8 MiB: %s\n' \
		"$(awk -v k="${HWM[agent]}" 'BEGIN {printf "%.1f", k / 1024}')" \
		"$(awk -v k="${RSS[ref]}" 'BEGIN {printf "%.1f", k / 1024}')" "$r" \
		"$(verdict "${HWM[agent]}" $TARGET_RSS_KIB)"
	printf 'CPU: nsagent %s ms over %s s (%s%%), ip monitor %s ms; target ~0\n' "${CPU[agent]}" \
		"$period" "$(awk -v c="${CPU[agent]}" -v p="$period" 'BEGIN {printf "%.3f", c / (p * 10)}')" \
		"${CPU[ref]}"
	bench_stop_agent "$AGENT_PID" "$BENCH_TMP/agent.log"
	echo "RESULT footprint period_s=$period nsagent_rss_kib=${RSS[agent]} nsagent_peak_kib=${HWM[agent]} nsagent_pss_kib=${PSS[agent]} nsagent_cpu_ms=${CPU[agent]} ref_rss_kib=${RSS[ref]} ref_cpu_ms=${CPU[ref]} target_rss_kib=$TARGET_RSS_KIB"
}

# ------------------------------------------------------------ outside

main() {
	local period=60
	while (($#)); do
		case $1 in
		--in-host) shift; inside "$@"; return ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		*) [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1)) || bench_fail "SECONDS must be a positive number"
		   period=$1; shift ;;
		esac
	done
	bench_start bench_footprint
	lab up --hosts 1 --no-agent >/dev/null
	echo "bench_footprint: agent $NSAGENT ($(bench_agent_kind)), $(nproc) CPUs, kernel $(uname -r)"
	bench_in_host host1 "$(readlink -f "$0")" "$period"
}

main "$@"
