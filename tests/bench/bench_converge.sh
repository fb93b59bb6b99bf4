#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Convergence: from every agent started to every kernel having a route to
# every other host's subnet.
#
#   bench_converge.sh [--runs R] [--key] [--before BIN] [N...]
#                                           (default N: 2 8 16 32; R: 5)
#
# A lab of max(N) hosts on one switch (deploy/lab, no agents of its own).
# The agents form a chain: host1 has no --peer, host I has --peer host(I-1)
# only, so peer exchange must close the chain into a full mesh. Every agent
# is parked before exec and all are released at once (mesh_lib.sh); the
# figure runs from the release to the kernel time (`ip -ts monitor route`
# in each host) at which the last host had its N-1 routes.
#
# References, same run, same hosts:
#   local     the same agents without --peer: release -> every pid file
#             (each host's local topology reconciled; the floor of the
#             figure, as every agent must do this first)
#   by hand   one `ip -batch` per host adding its N-1 routes, hosts one
#             after the other, timed by the same monitors
# Between runs every host is reset (agent stopped, `nsagent down`, state
# removed) so each run starts cold.
#
# --key: every agent runs with a cluster key (TLS 1.3, PSK). --before BIN:
# the same chains with another agent binary too (an earlier commit's
# build), alternating with $NSAGENT run by run, printed beside it.
#
# Targets: N=2 <= 100 ms; N=32 <= 2 s.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

target_ms() {
	if (($1 <= 2)); then echo 100; elif (($1 >= 32)); then echo 2000; else echo -; fi
}

bench_extra_cleanup() { mesh_cleanup; }

# run_hand N: OUT = µs from the first `ip` to the last host's N-1 routes.
run_hand() {
	local n=$1 i j t last=0
	MESH_T0=${EPOCHREALTIME/./}
	for ((i = 1; i <= n; i++)); do
		for ((j = 1; j <= n; j++)); do
			((i == j)) || echo "route add $(host_subnet "$j") via $(host_ip "$j") proto 78"
		done | in_host "$i" ip -batch -
	done
	for ((i = 1; i <= n; i++)); do
		poll_until 10 mon_has "$i" $((n - 1)) || bench_fail "host$i: hand-made routes not seen"
		t=$(mon_routes_at "$i" $((n - 1)) "$MESH_T0")
		((t - MESH_T0 > last)) && last=$((t - MESH_T0))
		in_host "$i" ip route flush proto 78
	done
	OUT=$last
}
mon_has() { [[ -n $(mon_routes_at "$1" "$2" "$MESH_T0") ]]; }

main() {
	local runs=5 sizes=() n r max=0 key='' before=''
	while (($#)); do
		case $1 in
		--runs) runs=${2:?--runs needs a number}; shift 2 ;;
		--key) key=1; shift ;;
		--before) before=${2:?--before needs a binary}; shift 2 ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		*) [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 2 && $1 <= 250)) || bench_fail "N must be 2..250, got '$1'"
		   sizes+=("$1"); shift ;;
		esac
	done
	((${#sizes[@]})) || sizes=(2 8 16 32)
	[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1)) || bench_fail "--runs needs a positive number"
	for n in "${sizes[@]}"; do ((n > max)) && max=$n; done
	bench_start bench_converge
	# shellcheck source=mesh_lib.sh
	source "$BENCH_DIR/mesh_lib.sh"
	bench_sleep_init
	[[ -z $before ]] || [[ -x $before ]] || bench_fail "--before $before is not executable"
	# shellcheck disable=SC2034 # read by run_mesh_pair (mesh_lib.sh)
	MESH_BEFORE=$before
	[[ -z $key ]] || mesh_key_init
	mesh_lab_up "$max"
	echo "bench_converge: agent $NSAGENT ($(bench_agent_kind)), $(nproc) CPUs, kernel $(uname -r), lab of $max hosts, $(if [[ -n $key ]]; then echo "with a cluster key"; else echo "no cluster key"; fi)"
	[[ -z $before ]] || echo "before: $before (runs alternate with it)"
	for ((n = 1; n <= max; n++)); do mesh_monitor "$n"; done
	for n in "${sizes[@]}"; do
		local mesh=() loc=() hand=() mesh_b=()
		for ((r = 0; r < runs; r++)); do
			run_mesh_pair "$n"
			mesh+=("$OUT")
			[[ -z $before ]] || mesh_b+=("$OUT_BEFORE")
			run_local "$n"
			loc+=("$OUT")
			run_hand "$n"
			hand+=("$OUT")
		done
		local m l h lo hi tgt verdict_s=
		m=$(median "${mesh[@]}")
		l=$(median "${loc[@]}")
		h=$(median "${hand[@]}")
		lo=$(printf '%s\n' "${mesh[@]}" | sort -n | head -1)
		hi=$(printf '%s\n' "${mesh[@]}" | sort -n | tail -1)
		tgt=$(target_ms "$n")
		[[ $tgt == - ]] || verdict_s=" (target <= $tgt ms: $(verdict "$(ms "$m")" "$tgt"))"
		echo
		echo "== convergence of a chain of $n hosts to a full mesh, median of $runs runs"
		printf '%-40s %10s\n' "what" "ms"
		printf '%-40s %10s   (min %s, max %s)\n' "nsagent: release -> last host's routes" "$(ms "$m")" "$(ms "$lo")" "$(ms "$hi")"
		printf '%-40s %10s\n' "local: agents without peers ready" "$(ms "$l")"
		printf '%-40s %10s\n' "by hand: ip -batch per host" "$(ms "$h")"
		printf 'nsagent %s ms%s; %sx local bring-up, %sx by hand; peering cost %s ms\n' \
			"$(ms "$m")" "$verdict_s" "$(ratio "$m" "$l")" "$(ratio "$m" "$h")" "$(ms $((${m%.*} - ${l%.*})))"
		echo "RESULT converge n=$n key=${key:-0} nsagent_ms=$(ms "$m") max_ms=$(ms "$hi") local_ms=$(ms "$l") byhand_ms=$(ms "$h") ratio_local=$(ratio "$m" "$l") target_ms=$tgt"
		if [[ -n $before ]]; then
			local mb lob hib
			mb=$(median "${mesh_b[@]}")
			lob=$(printf '%s\n' "${mesh_b[@]}" | sort -n | head -1)
			hib=$(printf '%s\n' "${mesh_b[@]}" | sort -n | tail -1)
			printf '%-40s %10s   (min %s, max %s)\n' "before: release -> last host's routes" "$(ms "$mb")" "$(ms "$lob")" "$(ms "$hib")"
			printf 'nsagent / before: %sx\n' "$(ratio "$m" "$mb")"
			echo "RESULT converge_before n=$n key=${key:-0} nsagent_ms=$(ms "$mb") max_ms=$(ms "$hib")"
		fi
	done
}

main "$@"
