#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2034 # the DEL_* and RESTORE_* tables are read by name (spec=DEL_$c)
# Drift repair latency: something nsagent owns is deleted by hand, and the
# agent puts it back. Timed from the kernel's deletion notification to the
# notification of the last restored object, both read from `ip -ts monitor`
# (one in the host, one inside NS1), so neither the poll loop nor process
# start-up enters the figure.
#
#   bench_repair.sh [--runs R]        (default R: 10)
#
# Cases (agent with NS1, NS2 on 172.16.0.0/24, bridge br0):
#   route    NS1's default route
#   nsaddr   NS1's eth0 address (takes the default route with it)
#   braddr   the bridge's address
#   veth     NS1's host veth (takes eth0, its address and route with it)
#   bridge   the bridge (releases both host veths)
# Reference, same run: the agent is frozen (SIGSTOP) and a script that
# already knows the fix restores the same objects with `ip` commands right
# after the deletion; the agent is thawed afterwards (it then finds nothing
# to do). Target: every case restored within 100 ms.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TARGET_MS=100
BR=br0
GW=172.16.0.1
NS1_ADDR=172.16.0.2

# ------------------------------------------------------------- inside

CASES=(route nsaddr braddr veth bridge)

# del_CASE, fix_CASE (the by-hand reference), and the patterns: where the
# deletion shows (FILE:REGEX) and every object whose return ends the repair.
del_route() { ip -n NS1 route del default; }
fix_route() { ip -n NS1 route add default via $GW dev eth0; }
DEL_route='ns1:Deleted default via'
RESTORE_route=('ns1:\] default via 172\.16\.0\.1 ')

del_nsaddr() { ip -n NS1 addr del $NS1_ADDR/24 dev eth0; }
fix_nsaddr() {
	ip -n NS1 addr add $NS1_ADDR/24 dev eth0
	ip -n NS1 route add default via $GW dev eth0
}
DEL_nsaddr='ns1:Deleted [0-9]+: eth0 +inet 172\.16\.0\.2/'
RESTORE_nsaddr=('ns1:\] [0-9]+: eth0 +inet 172\.16\.0\.2/24' 'ns1:\] default via 172\.16\.0\.1 ')

del_braddr() { ip addr del $GW/24 dev $BR; }
fix_braddr() { ip addr add $GW/24 dev $BR; }
DEL_braddr='root:Deleted [0-9]+: br0 +inet 172\.16\.0\.1/'
RESTORE_braddr=('root:\] [0-9]+: br0 +inet 172\.16\.0\.1/24')

del_veth() { ip link del nsa-NS1; }
fix_veth() {
	ip link add nsa-NS1 type veth peer name eth0 netns NS1
	ip link set nsa-NS1 master $BR alias nsagent:ns=NS1 up
	ip -n NS1 link set eth0 alias nsagent:ns=NS1 up
	ip -n NS1 addr add $NS1_ADDR/24 dev eth0
	ip -n NS1 route add default via $GW dev eth0
}
DEL_veth='root:Deleted [0-9]+: nsa-NS1'
RESTORE_veth=('root:\] [0-9]+: nsa-NS1@.* master br0 ' 'ns1:\] [0-9]+: eth0 +inet 172\.16\.0\.2/24'
	'ns1:\] default via 172\.16\.0\.1 ')

del_bridge() { ip link del $BR; }
fix_bridge() {
	ip link add $BR type bridge
	ip link set $BR alias nsagent:bridge up
	ip addr add $GW/24 dev $BR
	ip link set nsa-NS1 master $BR
	ip link set nsa-NS2 master $BR
}
DEL_bridge='root:Deleted [0-9]+: br0:'
RESTORE_bridge=('root:\] [0-9]+: br0 +inet 172\.16\.0\.1/24' 'root:\] [0-9]+: nsa-NS1@.* master br0 '
	'root:\] [0-9]+: nsa-NS2@.* master br0 ')

# first_us FILE FROM_LINE REGEX [AFTER_US]: the monitor timestamp (µs since
# midnight) of the first message after line FROM_LINE that matches REGEX and
# is not older than AFTER_US; nothing when there is none yet.
first_us() {
	tail -n "+$(($2 + 1))" "$1" | RE=$3 AFTER=${4:-0} awk '
		/^\[/ {
			split(substr($1, 2, length($1) - 2), dt, "T")
			split(dt[2], t, ":")
			us = ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000000
			if (us >= ENVIRON["AFTER"] + 0 && $0 ~ ENVIRON["RE"]) { printf "%.0f\n", us; exit }
		}'
}

mon_file() { echo "$BENCH_TMP/mon.$1"; }

# latency CASE FROM_ROOT FROM_NS1: prints the µs from the deletion to the
# last restored object, or nothing while the repair is not complete.
latency() {
	local c=$1 from_root=$2 from_ns1=$3 spec file from del last=0 t
	local -n restore="RESTORE_$c"
	spec=DEL_$c
	spec=${!spec}
	file=${spec%%:*}
	if [[ $file == root ]]; then from=$from_root; else from=$from_ns1; fi
	del=$(first_us "$(mon_file "$file")" "$from" "${spec#*:}")
	[[ -n $del ]] || return 1
	for spec in "${restore[@]}"; do
		file=${spec%%:*}
		if [[ $file == root ]]; then from=$from_root; else from=$from_ns1; fi
		t=$(first_us "$(mon_file "$file")" "$from" "${spec#*:}" "$del")
		[[ -n $t ]] || return 1
		((t > last)) && last=$t
	done
	echo $((last - del))
}

lines() { wc -l <"$1"; }

# trial CASE MODE (agent | byhand): prints the latency in µs.
trial() {
	local c=$1 mode=$2 from_root from_ns1 deadline out
	from_root=$(lines "$(mon_file root)")
	from_ns1=$(lines "$(mon_file ns1)")
	[[ $mode == agent ]] || kill -STOP "$AGENT_PID"
	"del_$c"
	[[ $mode == agent ]] || "fix_$c"
	deadline=$((${EPOCHREALTIME/./} + 5000000))
	until out=$(latency "$c" "$from_root" "$from_ns1"); do
		if ((${EPOCHREALTIME/./} > deadline)); then
			[[ $mode == agent ]] || kill -CONT "$AGENT_PID"
			bench_fail "$c ($mode): not restored within 5 s"
		fi
		nap 0.01
	done
	if [[ $mode != agent ]]; then
		kill -CONT "$AGENT_PID"
	fi
	# The agent's pass (if any) is over when its objects are all there; a
	# short quiet spell lets a thawed agent finish looking.
	nap 0.05
	echo "$out"
}

# Waits until both monitors report: a throwaway bridge made and removed.
mon_ready() {
	local f
	for f in root ns1; do grep -q "bprobe" "$(mon_file $f)" || return 1; done
}

AGENT_PID=
inside() {
	local runs=$1 c r mode
	bench_sleep_init
	: >"$BENCH_TMP/empty.conf"
	"$NSAGENT" run --config "$BENCH_TMP/empty.conf" --bridge $BR --subnet 172.16.0.0/24 \
		--namespaces NS1,NS2 >>"$BENCH_TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	poll_until 30 test -s /run/nsagent/nsagent.pid || bench_fail "nsagent not ready: $(tail -5 "$BENCH_TMP/agent.log")"
	ip -ts monitor link address route >"$(mon_file root)" 2>&1 &
	MON_ROOT=$!
	ip -n NS1 -ts monitor link address route >"$(mon_file ns1)" 2>&1 &
	MON_NS1=$!
	trap 'kill $MON_ROOT $MON_NS1 $AGENT_PID 2>/dev/null; wait' EXIT
	local deadline=$((${EPOCHREALTIME/./} + 10000000))
	until mon_ready; do
		((${EPOCHREALTIME/./} < deadline)) || bench_fail "ip monitor does not report"
		ip link add bprobe type bridge && ip link del bprobe
		ip -n NS1 link add bprobe type bridge && ip -n NS1 link del bprobe
		nap 0.02
	done

	echo
	echo "== drift repair: deletion -> restored (kernel notification times), $runs runs per case"
	printf '%-8s %10s %10s %10s   %14s   %6s\n' case "median ms" "min ms" "max ms" "by hand ms" ratio
	for c in "${CASES[@]}"; do
		local -a agent=() byhand=()
		for ((r = 0; r < runs; r++)); do
			for mode in agent byhand; do
				local v
				v=$(trial "$c" "$mode") || exit 1
				if [[ $mode == agent ]]; then agent+=("$v"); else byhand+=("$v"); fi
			done
		done
		local med hmed lo hi
		med=$(median "${agent[@]}")
		hmed=$(median "${byhand[@]}")
		lo=$(printf '%s\n' "${agent[@]}" | sort -n | head -1)
		hi=$(printf '%s\n' "${agent[@]}" | sort -n | tail -1)
		printf '%-8s %10s %10s %10s   %14s   %5sx   (target <= %s ms: %s)\n' "$c" "$(ms "$med")" \
			"$(ms "$lo")" "$(ms "$hi")" "$(ms "$hmed")" "$(ratio "$med" "$hmed")" $TARGET_MS \
			"$(verdict "$(ms "$hi")" $TARGET_MS)"
		echo "RESULT repair case=$c nsagent_ms=$(ms "$med") max_ms=$(ms "$hi") byhand_ms=$(ms "$hmed") ratio=$(ratio "$med" "$hmed") target_ms=$TARGET_MS"
	done
	kill -0 "$AGENT_PID" 2>/dev/null || bench_fail "nsagent died: $(tail -5 "$BENCH_TMP/agent.log")"
	grep -q "repaired" "$BENCH_TMP/agent.log" || bench_fail "the agent logged no repair"
	bench_stop_agent "$AGENT_PID" "$BENCH_TMP/agent.log"
	if [[ -n ${BENCH_KEEP:-} ]]; then
		cp "$BENCH_TMP"/mon.* "$BENCH_TMP/agent.log" "$BENCH_KEEP"/
	fi
}

# ------------------------------------------------------------ outside

main() {
	local runs=10
	while (($#)); do
		case $1 in
		--in-host) shift; inside "$@"; return ;;
		--runs) runs=${2:?--runs needs a number}; shift 2 ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		*) bench_fail "unknown argument '$1'" ;;
		esac
	done
	[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1)) || bench_fail "--runs needs a positive number"
	bench_start bench_repair
	lab up --hosts 1 --no-agent >/dev/null
	echo "bench_repair: agent $NSAGENT ($(bench_agent_kind)), $(nproc) CPUs, kernel $(uname -r)"
	BENCH_KEEP=${BENCH_KEEP:-} bench_in_host host1 "$(readlink -f "$0")" "$runs"
}

main "$@"
