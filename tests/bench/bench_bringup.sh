#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Local bring-up and teardown of N namespaces: nsagent against three
# references built in the same lab host, in the same run, interleaved run by
# run so that load on the machine hits every method alike.
#
#   bench_bringup.sh [--runs R] [--methods M,...] [N...]
#                                           (default N: 2 64 256; R: 5;
#                                           M: floor,topo,ipstep,ipbatch,nsagent,nsagent4)
#
# Methods (namespaces b0..b(N-1), host ends nsa-bI, bridge br0, subnet
# 172.16.0.0/24, or /23 when N > 253):
#   floor     floor.c: the named namespaces and veth pairs, nothing else
#   topo      floor.c topo-up: the whole local topology (bridge, addresses,
#             links up, default routes, ip_forward) as cheaply as the
#             kernel allows, in one single-threaded program: the least any
#             implementation of DESIGN.md's topology can spend
#   ip-step   the seed recipe, one `ip` command per step (steps 1-8, 10)
#   ip-batch  the same topology with `ip -batch` in the host plus one
#             `ip -n bI -batch` per namespace for its inside
#   nsagent   `nsagent run --subnet ... --namespaces ...` from exec until
#             its pid file appears (written once the topology is reconciled);
#             dual-stack, the default: every namespace also gets its IPv6
#             address and default route, the bridge its ::1
#   nsagent4  the same with --ipv6 off (IPv4 only)
# Teardown: floor down / floor topo-down (bridge and host ends in one
# request, then the names) / `ip netns del` each + bridge / one `ip -batch` /
# `nsagent down` (which first asks the running agent to leave), each timed
# until the command is done and the kernel has removed every veth (the
# kernel frees a namespace asynchronously; its veths go with it).
#
# Targets: nsagent <= 1.5x the floor, for bring-up and for teardown. The
# ratios to the topology floor split that figure in two: what the topology
# costs the kernel (topo / floor) and what the agent adds (nsagent / topo).
# Dual-stack bring-up (nsagent) <= 1.2x the IPv4-only one (nsagent4).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TARGET=1.5
TARGET_V6=1.2
BR=br0

# ------------------------------------------------------------- inside

prefix_len() { if (($1 > 253)); then echo 23; else echo 24; fi; }

settled() {
	local a
	shopt -s nullglob
	a=(/sys/class/net/nsa-* /run/netns/*)
	shopt -u nullglob
	((${#a[@]} == 0)) && [[ ! -e /sys/class/net/$BR ]]
}

# Everything each method must have built (a test that can fail): N
# namespaces and N host veths; for the full methods also the bridge and, in
# the last namespace, the address and the default route.
check_up() {
	local method=$1 n=$2 full=$3 last=b$(($2 - 1)) a
	shopt -s nullglob
	a=(/run/netns/b*)
	((${#a[@]} == n)) || bench_fail "$method: ${#a[@]} namespaces, want $n"
	a=(/sys/class/net/nsa-b*)
	((${#a[@]} == n)) || bench_fail "$method: ${#a[@]} host veths, want $n"
	shopt -u nullglob
	((full)) || return 0
	[[ -e /sys/class/net/$BR/bridge ]] || bench_fail "$method: no bridge $BR"
	ip -n "$last" -4 -o addr show | grep -q "inet $(host_addr $((n + 1)))/" ||
		bench_fail "$method: namespace $last lacks its address"
	ip -n "$last" route show default | grep -q "via 172.16.0.1" ||
		bench_fail "$method: namespace $last lacks its default route"
	[[ $method == nsagent ]] || return 0
	ip -n "$last" -6 -o addr show dev eth0 scope global | grep -q "inet6 fd" ||
		bench_fail "$method: namespace $last lacks its IPv6 address"
	ip -n "$last" -6 route show default | grep -q "via fd" ||
		bench_fail "$method: namespace $last lacks its IPv6 default route"
}

up_floor() { "$FLOOR" up b "$1"; }
down_floor() { "$FLOOR" down b "$1"; }
up_topo() { "$FLOOR" topo-up b "$1"; }
down_topo() { "$FLOOR" topo-down b "$1"; }

up_ipstep() {
	local n=$1 len i
	len=$(prefix_len "$n")
	for ((i = 0; i < n; i++)); do ip netns add "b$i"; done
	for ((i = 0; i < n; i++)); do ip link add "nsa-b$i" type veth peer name "vb$i"; done
	for ((i = 0; i < n; i++)); do ip link set "vb$i" netns "b$i"; done
	for ((i = 0; i < n; i++)); do
		ip -n "b$i" addr add "$(host_addr $((i + 2)))/$len" dev "vb$i"
		ip -n "b$i" link set "vb$i" up
	done
	ip link add "$BR" type bridge
	for ((i = 0; i < n; i++)); do ip link set "nsa-b$i" master "$BR"; done
	ip addr add "172.16.0.1/$len" dev "$BR"
	ip link set "$BR" up
	for ((i = 0; i < n; i++)); do ip link set "nsa-b$i" up; done
	for ((i = 0; i < n; i++)); do ip -n "b$i" link set lo up; done
	for ((i = 0; i < n; i++)); do ip -n "b$i" route add default via 172.16.0.1 dev "vb$i"; done
	sysctl -qw net.ipv4.ip_forward=1
}
down_ipstep() {
	local n=$1 i
	for ((i = 0; i < n; i++)); do ip netns del "b$i"; done
	ip link del "$BR"
}

up_ipbatch() {
	local n=$1 len i
	len=$(prefix_len "$n")
	{
		for ((i = 0; i < n; i++)); do echo "netns add b$i"; done
		echo "link add $BR type bridge"
		echo "addr add 172.16.0.1/$len dev $BR"
		echo "link set $BR up"
		for ((i = 0; i < n; i++)); do
			echo "link add nsa-b$i type veth peer name eth0 netns b$i"
			echo "link set nsa-b$i master $BR up"
		done
	} | ip -batch -
	for ((i = 0; i < n; i++)); do
		ip -n "b$i" -batch - <<EOF
addr add $(host_addr $((i + 2)))/$len dev eth0
link set eth0 up
link set lo up
route add default via 172.16.0.1 dev eth0
EOF
	done
	echo 1 >/proc/sys/net/ipv4/ip_forward
}
down_ipbatch() {
	local n=$1 i
	{
		for ((i = 0; i < n; i++)); do echo "netns del b$i"; done
		echo "link del $BR"
	} | ip -batch -
}

AGENT_PID=
agent_ready() { [[ -s /run/nsagent/nsagent.pid ]]; }
# The agent's arguments for N namespaces, made before the clock starts:
# dual-stack, or with ipv6 off.
agent_args() {
	local n=$1 ipv6=$2 i
	AGENT_ARGS=(run --config "$BENCH_TMP/empty.conf" --bridge "$BR" --ipv6 "$ipv6"
		--subnet "172.16.0.0/$(prefix_len "$n")" --namespaces b0)
	for ((i = 1; i < n; i++)); do AGENT_ARGS[-1]+=",b$i"; done
}
up_nsagent() {
	"$NSAGENT" "${AGENT_ARGS[@]}" >>"$BENCH_TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	poll_until 120 agent_ready || bench_fail "nsagent not ready after 120 s: $(tail -5 "$BENCH_TMP/agent.log")"
}
down_nsagent() {
	"$NSAGENT" down --config "$BENCH_TMP/empty.conf" --bridge "$BR" >"$BENCH_TMP/down.log" 2>&1 ||
		bench_fail "nsagent down failed: $(tail -5 "$BENCH_TMP/down.log")"
}
up_nsagent4() { up_nsagent "$@"; }
down_nsagent4() { down_nsagent "$@"; }

# The kernel frees deleted namespaces on one ordered work queue, after the
# teardown figure is taken (it stops once the veths, the bridge and the
# names are gone). Left running, that work would slow whichever method
# comes next. A sentinel namespace with a veth, deleted last, is freed
# after every namespace queued before it: its veth disappearing means the
# queue is drained.
quiesce() {
	local ns=quiesce$$ v=qv$$
	ip netns add "$ns"
	ip link add "$v" type veth peer name eth0 netns "$ns"
	ip netns del "$ns"
	# shellcheck disable=SC2317 # called by poll_until
	gone() { [[ ! -e /sys/class/net/$v ]]; }
	poll_until 60 gone || bench_fail "the kernel did not free namespaces within 60 s"
}

# one METHOD N FULL: prints "UP_US DOWN_US".
one() {
	local method=$1 n=$2 full=$3 t0 t1 t2
	settled || bench_fail "$method: leftovers before bring-up"
	[[ $method != nsagent ]] || agent_args "$n" on
	[[ $method != nsagent4 ]] || agent_args "$n" off
	quiesce
	t0=${EPOCHREALTIME/./}
	"up_$method" "$n"
	t1=${EPOCHREALTIME/./}
	check_up "$method" "$n" "$full"
	t1=$((t1 - t0))
	t0=${EPOCHREALTIME/./}
	"down_$method" "$n"
	# shellcheck disable=SC2012 # names for a message, not parsed
	poll_until 60 settled || bench_fail "$method: teardown left $(ls /sys/class/net /run/netns | tr '\n' ' ')"
	t2=${EPOCHREALTIME/./}
	if [[ $method == nsagent* ]]; then
		local rc=0
		wait "$AGENT_PID" || rc=$?
		((rc == 0)) || bench_fail "nsagent exited $rc after nsagent down"
		bench_check_log "$BENCH_TMP/agent.log"
	fi
	echo "$t1 $((t2 - t0))"
}

# vs_tools ARRAY: nsagent against the ip methods that ran, as "; vs ...".
vs_tools() {
	local -n med=$1
	local out=
	[[ -n ${med[ipbatch]:-} ]] && out+="; vs ip -batch $(ratio "${med[nsagent]}" "${med[ipbatch]}")x"
	[[ -n ${med[ipstep]:-} ]] && out+="; vs ip per step $(ratio "${med[nsagent]}" "${med[ipstep]}")x"
	echo "$out"
}

# The cost of starting the agent's process before it does anything:
# `nsagent version` (exec, its shared libraries, exit) against `floor up`
# with no namespace, 20 runs each, interleaved. At small N this, not the
# kernel work, is most of the difference between the two.
process_start() {
	local r t0 a=() f=() libs
	for ((r = 0; r < 20; r++)); do
		t0=${EPOCHREALTIME/./}
		"$NSAGENT" version >/dev/null
		a+=($((${EPOCHREALTIME/./} - t0)))
		t0=${EPOCHREALTIME/./}
		"$FLOOR" up b 0
		f+=($((${EPOCHREALTIME/./} - t0)))
	done
	local ma mf
	ma=$(median "${a[@]}")
	mf=$(median "${f[@]}")
	libs=$(ldd "$NSAGENT" | grep -c '=> /')
	echo
	printf 'process start: nsagent version %s ms (%s shared libraries), floor with no namespace %s ms: %s ms more before any work\n' \
		"$(ms "$ma")" "$libs" "$(ms "$mf")" "$(awk -v a="$ma" -v f="$mf" 'BEGIN { printf "%.1f", (a - f) / 1000 }')"
	echo "RESULT process_start nsagent_ms=$(ms "$ma") floor_ms=$(ms "$mf") libraries=$libs"
}

inside() {
	local runs=$1 n r m methods
	IFS=, read -r -a methods <<<"$2"
	shift 2
	bench_sleep_init
	: >"$BENCH_TMP/empty.conf"
	process_start
	local -A label=([floor]="floor (floor.c: netns + veth)"
		[topo]="topology floor (floor.c topo-up)" [ipstep]="ip, one command per step"
		[ipbatch]="ip -batch" [nsagent]="nsagent run / nsagent down"
		[nsagent4]="the same, --ipv6 off")
	local -A full=([floor]=0 [topo]=1 [ipstep]=1 [ipbatch]=1 [nsagent]=1 [nsagent4]=1)
	for n; do
		local -A ups=() downs=()
		for ((r = 0; r < runs; r++)); do
			for m in "${methods[@]}"; do
				local u d
				read -r u d < <(one "$m" "$n" "${full[$m]}") || bench_fail "$m N=$n failed"
				ups[$m]+=" $u"
				downs[$m]+=" $d"
				[[ -z ${BENCH_VERBOSE:-} ]] || echo "run $r N=$n $m: up $(ms "$u") ms, down $(ms "$d") ms"
			done
		done
		local -A mu=() md=()
		echo
		echo "== bring-up and teardown of N=$n namespaces, median (min-max) of $runs runs"
		printf '%-32s %24s %24s\n' method "bring-up ms" "teardown ms"
		for m in "${methods[@]}"; do
			# shellcheck disable=SC2086 # the lists are space-separated numbers
			mu[$m]=$(median ${ups[$m]})
			# shellcheck disable=SC2086
			md[$m]=$(median ${downs[$m]})
			# shellcheck disable=SC2086
			printf '%-32s %24s %24s\n' "${label[$m]}" \
				"$(ms "${mu[$m]}") ($(spread ${ups[$m]}))" "$(ms "${md[$m]}") ($(spread ${downs[$m]}))"
		done
		local ru rd
		ru=$(ratio "${mu[nsagent]}" "${mu[floor]}")
		rd=$(ratio "${md[nsagent]}" "${md[floor]}")
		printf 'bring-up: nsagent %s ms vs floor %s ms = %sx (target <= %sx: %s)%s\n' \
			"$(ms "${mu[nsagent]}")" "$(ms "${mu[floor]}")" "$ru" "$TARGET" "$(verdict "$ru" "$TARGET")" \
			"$(vs_tools mu)"
		printf 'teardown: nsagent %s ms vs floor %s ms = %sx (target <= %sx: %s)%s\n' \
			"$(ms "${md[nsagent]}")" "$(ms "${md[floor]}")" "$rd" "$TARGET" "$(verdict "$rd" "$TARGET")" \
			"$(vs_tools md)"
		local tu='' td=''
		if [[ -n ${mu[topo]:-} ]]; then
			printf 'topology floor: bring-up %s ms = %sx the floor, nsagent %sx it; teardown %s ms = %sx the floor, nsagent %sx it\n' \
				"$(ms "${mu[topo]}")" "$(ratio "${mu[topo]}" "${mu[floor]}")" "$(ratio "${mu[nsagent]}" "${mu[topo]}")" \
				"$(ms "${md[topo]}")" "$(ratio "${md[topo]}" "${md[floor]}")" "$(ratio "${md[nsagent]}" "${md[topo]}")"
			tu=" topo_ms=$(ms "${mu[topo]}") vs_topo=$(ratio "${mu[nsagent]}" "${mu[topo]}")"
			td=" topo_ms=$(ms "${md[topo]}") vs_topo=$(ratio "${md[nsagent]}" "${md[topo]}")"
		fi
		if [[ -n ${mu[nsagent4]:-} ]]; then
			local r6
			r6=$(ratio "${mu[nsagent]}" "${mu[nsagent4]}")
			printf 'dual-stack: bring-up %s ms vs --ipv6 off %s ms = %sx (target <= %sx: %s); teardown %sx\n' \
				"$(ms "${mu[nsagent]}")" "$(ms "${mu[nsagent4]}")" "$r6" "$TARGET_V6" \
				"$(verdict "$r6" "$TARGET_V6")" "$(ratio "${md[nsagent]}" "${md[nsagent4]}")"
			echo "RESULT bringup_ipv6 n=$n on_ms=$(ms "${mu[nsagent]}") off_ms=$(ms "${mu[nsagent4]}") ratio=$r6 target=$TARGET_V6"
		fi
		echo "RESULT bringup n=$n nsagent_ms=$(ms "${mu[nsagent]}") floor_ms=$(ms "${mu[floor]}") ratio=$ru target=$TARGET$tu"
		echo "RESULT teardown n=$n nsagent_ms=$(ms "${md[nsagent]}") floor_ms=$(ms "${md[floor]}") ratio=$rd target=$TARGET$td"
		unset ups downs mu md
	done
}

# ------------------------------------------------------------ outside

main() {
	local runs=5 sizes=() method_list=floor,topo,ipstep,ipbatch,nsagent,nsagent4
	while (($#)); do
		case $1 in
		--in-host) shift; inside "$@"; return ;;
		--runs) runs=${2:?--runs needs a number}; shift 2 ;;
		--methods) method_list=${2:?--methods needs a list}; shift 2
		   [[ $method_list =~ ^(floor|topo|ipstep|ipbatch|nsagent4?)(,(floor|topo|ipstep|ipbatch|nsagent4?))*$ &&
		      ,$method_list, == *,floor,* && ,$method_list, == *,nsagent,* ]] ||
			bench_fail "--methods: a comma-separated list of floor, topo, ipstep, ipbatch, nsagent, nsagent4, with floor and nsagent" ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		*) [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 500)) || bench_fail "N must be 1..500, got '$1'"
		   sizes+=("$1"); shift ;;
		esac
	done
	((${#sizes[@]})) || sizes=(2 64 256)
	[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1)) || bench_fail "--runs needs a positive number"
	bench_start bench_bringup
	bench_floor
	lab up --hosts 1 --no-agent >/dev/null
	echo "bench_bringup: agent $NSAGENT ($(bench_agent_kind)), $(nproc) CPUs, kernel $(uname -r)"
	bench_in_host host1 "$(readlink -f "$0")" "$runs" "$method_list" "${sizes[@]}"
}

main "$@"
