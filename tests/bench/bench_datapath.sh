#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Data path: TCP throughput (iperf3, one stream) from NS1 on host1 to NS1
# on host2, through nsagent's routes, against the same topology built by
# hand with plain `ip` commands in a second lab (no agent), measured in the
# same run, runs interleaved so that load on the machine hits both alike.
#
#   bench_datapath.sh [--mode direct|vxlan|wireguard|all] [--family 4|6|all]
#                     [--seconds S] [--runs R] [--no-nft]
#                                   (default: all, all, 5 s, 7 runs)
#
# --family 6 measures IPv6 between the namespaces (the agents run
# dual-stack, the default): NS1's IPv6 address on host2, through the
# agent's IPv6 routes, against the same by hand.
#
# --no-nft (diagnosis, not a figure of nsagent): once the routes are in,
# the agents are frozen (SIGSTOP) and their nftables table is deleted, so
# the difference that remains is not the table's.
#
# direct  both labs on one switch (deploy/lab topology "switch"); agents
#         with --backend direct; by hand: bridge, NS1 with its veth,
#         address and default route, ip_forward, and `SUBNET via NODE-IP`;
#         for IPv6 the bridge's ::1/64, NS1's ::2, its default route,
#         forwarding, and `SUBNET6 via <the peer's fe80:: on eth0> dev eth0`.
# vxlan   both labs with topology "router" (host1 and host2 on two
#         segments); agents with --backend vxlan. Runs only when the agent
#         supports it: it must create its VXLAN device nsa-vxlan, otherwise
#         the case reports "not available". By hand: the same VXLAN device
#         (VNI 7470, port 4789, no learning), MTU 1450 on the bridge, veth
#         and eth0, `SUBNET via NET-ADDR dev nsa-vxlan onlink`, a permanent
#         neighbour and FDB entry for the peer; for IPv6 `SUBNET6 via
#         <EUI-64 fe80:: of the peer's VTEP MAC> dev nsa-vxlan onlink` and
#         its permanent neighbour entry.
# wireguard
#         both labs on one switch; agents with --backend wireguard (their
#         own wireguard-go, configured through its UAPI socket); by hand:
#         wireguard-go started by hand, configured with wg(8) (keys from
#         `wg genkey`, the peer's subnet and /64 as allowed IPs, its node
#         IP as endpoint), MTU 1440, `SUBNET dev nsa-wg` and the same for
#         the /64.
# Target: nsagent / by hand >= 0.95.
#
# Beside each figure: CPU per Gbit/s, the CPU time of iperf3's two ends
# (iperf3's own count, user + system) and of the two wireguard-go
# processes (their /proc stat) per second of the run, divided by the
# Gbit/s: cores kept busy per Gbit/s. Forwarding done in softirq outside
# those processes is not in it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TARGET=0.95
LAB_HAND=

bench_extra_cleanup() {
	mesh_cleanup
	if [[ -n $LAB_HAND ]]; then
		lab down --name "$LAB_HAND" >/dev/null 2>&1 || echo "WARN: lab $LAB_HAND not removed" >&2
	fi
}

# hand_host DIR CMD...: CMD in the hand-built lab's host DIR.
hand_host() {
	local d=$1
	shift
	nsenter --net="$d/net" --mount="$d/mnt" --wd=/ -- "$@"
}

vtep_mac() {
	local IFS=.
	# shellcheck disable=SC2086 # split the address
	set -- $1
	printf '02:6e:%02x:%02x:%02x:%02x' "$1" "$2" "$3" "$4"
}

# The EUI-64 link-local address of a MAC (RFC 4291 appendix A), as the
# agent's IPv6 next hop on the VXLAN device.
eui64() {
	local IFS=:
	# shellcheck disable=SC2086 # split the MAC
	set -- $1
	printf 'fe80::%x:%x:%x:%x' $(((0x$1 ^ 2) << 8 | 0x$2)) $((0x$3 << 8 | 0xff)) \
		$((0xfe << 8 | 0x$4)) $((0x$5 << 8 | 0x$6))
}

# hand_subnet6 I: host I's IPv6 /64 in the hand-built lab.
hand_subnet6() { echo "fd6e:7361:6765:a$1::/64"; }

# build_hand MODE: the topology of host1 and host2 by hand in LAB_HAND,
# dual-stack as the agents' (their default).
build_hand() {
	local mode=$1 i j d mtu=1500 sub gw me other osub s6 os6 oll
	[[ $mode == direct ]] || mtu=1450
	[[ $mode != wireguard ]] || mtu=1440
	if [[ $mode == wireguard ]]; then
		(umask 077 && wg genkey >"$BENCH_TMP/wg1.key" && wg genkey >"$BENCH_TMP/wg2.key")
	fi
	for i in 1 2; do
		j=$((3 - i))
		d=/run/nsagent-lab/$LAB_HAND/host$i
		sub=$(<"$d/subnet")
		gw=${sub%.0/*}.1
		me=$(<"$d/ip")
		other=$(</run/nsagent-lab/"$LAB_HAND"/host$j/ip)
		osub=$(</run/nsagent-lab/"$LAB_HAND"/host$j/subnet)
		s6=$(hand_subnet6 "$i")
		os6=$(hand_subnet6 "$j")
		hand_host "$d" ip netns add NS1
		hand_host "$d" ip -batch - <<EOF
link add br0 mtu $mtu type bridge
addr add $gw/24 dev br0
addr add ${s6%/*}1/64 dev br0 nodad
link set br0 up
link add nsa-NS1 mtu $mtu type veth peer name eth0 netns NS1
link set nsa-NS1 master br0 up
EOF
		hand_host "$d" ip -n NS1 -batch - <<EOF
addr add ${sub%.0/*}.2/24 dev eth0
addr add ${s6%/*}2/64 dev eth0 nodad
link set eth0 up
link set lo up
route add default via $gw dev eth0
route add default via ${s6%/*}1 dev eth0
EOF
		hand_host "$d" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
		if [[ $mode == direct ]]; then
			oll=$(hand_host "/run/nsagent-lab/$LAB_HAND/host$j" ip -6 -o addr show dev eth0 scope link |
				awk '{sub("/.*", "", $4); print $4}')
			[[ -n $oll ]] || bench_fail "hand lab: host$j has no link-local address on eth0"
			hand_host "$d" ip route add "$osub" via "$other"
			hand_host "$d" ip -6 route add "$os6" via "$oll" dev eth0
		elif [[ $mode == wireguard ]]; then
			hand_wireguard "$d" "$i" "$other" "$osub" "$os6"
		else
			hand_host "$d" ip -batch - <<EOF
link add nsa-vxlan type vxlan id 7470 local $me dstport 4789 nolearning
link set nsa-vxlan address $(vtep_mac "$me") mtu 1450 up
route add $osub via ${osub%/*} dev nsa-vxlan onlink
neigh add ${osub%/*} lladdr $(vtep_mac "$other") dev nsa-vxlan nud permanent
route add $os6 via $(eui64 "$(vtep_mac "$other")") dev nsa-vxlan onlink
neigh add $(eui64 "$(vtep_mac "$other")") lladdr $(vtep_mac "$other") dev nsa-vxlan nud permanent
EOF
			hand_host "$d" bridge fdb append "$(vtep_mac "$other")" dev nsa-vxlan dst "$other"
		fi
	done
}

# hand_wireguard HOSTDIR I OTHER_IP OTHER_SUBNET OTHER_SUBNET6: wireguard-go
# by hand for host I, configured with wg(8), the peer host 3-I.
hand_wireguard() {
	local d=$1 i=$2 other=$3 osub=$4 os6=$5 j=$((3 - $2))
	hand_host "$d" env WG_PROCESS_FOREGROUND=1 setsid wireguard-go -f nsa-wg \
		>"$BENCH_TMP/wg-hand$i.log" 2>&1 </dev/null &
	poll_slow 10 hand_host "$d" test -S /var/run/wireguard/nsa-wg.sock ||
		bench_fail "hand wireguard-go on host$i did not start: $(cat "$BENCH_TMP/wg-hand$i.log")"
	hand_host "$d" wg set nsa-wg private-key "$BENCH_TMP/wg$i.key" listen-port 51820 \
		peer "$(wg pubkey <"$BENCH_TMP/wg$j.key")" endpoint "$other:51820" \
		allowed-ips "$osub,$os6"
	hand_host "$d" ip link set nsa-wg mtu 1440 up
	hand_host "$d" ip route add "$osub" dev nsa-wg
	hand_host "$d" ip -6 route add "$os6" dev nsa-wg
}

# wg_cpu_ms LABDIR: CPU time (ms) of the wireguard-go processes of its
# host1 and host2 (found by their network namespace), 0 without any.
wg_cpu_ms() {
	local dir=$1 ns p total=0 stat hz
	hz=$(getconf CLK_TCK)
	for h in host1 host2; do
		ns=$(nsenter --net="$dir/$h/net" readlink /proc/self/ns/net)
		for p in $(pgrep -x wireguard-go || true); do
			[[ $(readlink "/proc/$p/ns/net" 2>/dev/null) == "$ns" ]] || continue
			read -r -a stat <"/proc/$p/stat" || continue
			total=$((total + (stat[13] + stat[14]) * 1000 / hz))
		done
	done
	echo "$total"
}

# ns1_addr LABDIR FAMILY: the address of NS1 on host2.
ns1_addr() {
	local dir=$1 family=$2 dst
	if [[ $family == 4 ]]; then
		dst=$(<"$dir/host2/subnet")
		echo "${dst%.0/*}.2"
		return
	fi
	nsenter --net="$dir/host2/net" --mount="$dir/host2/mnt" --wd=/ -- \
		ip -n NS1 -6 -o addr show dev eth0 scope global | awk '{sub("/.*", "", $4); print $4; exit}'
}

# iperf LABDIR FAMILY: OUT = bits/s from NS1@host1 to NS1@host2 (S
# seconds), CPU = cores busy per Gbit/s (iperf3's two ends, wireguard-go).
iperf() {
	local dir=$1 dst json srv wg0 wg1
	wg0=$(wg_cpu_ms "$dir")
	dst=$(ns1_addr "$dir" "$2")
	[[ -n $dst ]] || bench_fail "$dir: NS1 on host2 has no IPv$2 address"
	nsenter --net="$dir/host2/net" --mount="$dir/host2/mnt" --wd=/ -- \
		ip netns exec NS1 iperf3 -s -1 >"$BENCH_TMP/iperf-s.log" 2>&1 &
	srv=$!
	# the server listens when a client gets through (1 s of retries at most)
	local try
	for ((try = 0; try < 100; try++)); do
		json=$(nsenter --net="$dir/host1/net" --mount="$dir/host1/mnt" --wd=/ -- \
			ip netns exec NS1 iperf3 -c "$dst" -t "$SECONDS_RUN" -J 2>&1) || true
		# (iperf3 -J may exit 0 with an error in the JSON)
		[[ $(jq -r '.error // empty' <<<"$json" 2>/dev/null) == *"Connection refused"* ]] || break
		nap 0.02
	done
	if ! kill -0 "$srv" 2>/dev/null; then :; elif [[ -z $(jq -r '.end.sum_received.bits_per_second // empty' <<<"$json" 2>/dev/null) ]]; then
		kill "$srv" 2>/dev/null || true
	fi
	wait "$srv" || true
	OUT=$(jq -r '.end.sum_received.bits_per_second // empty' <<<"$json" 2>/dev/null || true)
	[[ -n $OUT ]] || bench_fail "iperf3 in $dir: $(head -c 400 <<<"$json")"
	OUT=${OUT%.*}
	wg1=$(wg_cpu_ms "$dir")
	# iperf3's CPU shares are percent of one core over the run
	CPU=$(jq -r --arg wg "$((wg1 - wg0))" --arg s "$SECONDS_RUN" --arg bps "$OUT" \
		'((.end.cpu_utilization_percent.host_total + .end.cpu_utilization_percent.remote_total) / 100
		  + ($wg | tonumber) / 1000 / ($s | tonumber)) / (($bps | tonumber) / 1e9)
		 | . * 100 | round / 100' <<<"$json")
}

both_ready() { mesh_ready 1 && mesh_ready 2; }

agents_up() {
	local i
	for i in 1 2; do
		[[ $(n_agent_routes "$i") == 1 ]] || return 1
		# and the IPv6 route (the agents run dual-stack)
		[[ -n $(in_host "$i" ip -6 route show proto 78) ]] || return 1
	done
}

# one_mode MODE
one_mode() {
	local mode=$1 topo=switch r i
	[[ $mode != vxlan ]] || topo=router
	mesh_lab_up 2 --topology "$topo"
	for i in 1 2; do
		local args
		mapfile -t args < <(mesh_chain_args "$i" --backend "$mode")
		mesh_spawn "$i" "${args[@]}"
	done
	mesh_release
	poll_slow 30 both_ready || bench_fail "$mode: the agents are not ready: $(tail -3 "$(hd 1)/agent.log")"
	echo
	# the VXLAN device is part of the local topology, made before "ready"
	if [[ $mode == vxlan ]] && ! in_host 1 test -e /sys/class/net/nsa-vxlan; then
		echo "== data path, $mode: not available (the agent made no nsa-vxlan device with --backend vxlan)"
		echo "RESULT datapath mode=$mode not_available=1"
		for i in 1 2; do mesh_stop "$i"; done
		lab down >/dev/null
		return 0
	fi
	poll_slow 30 agents_up || bench_fail "$mode: the agents did not install their routes: $(tail -3 "$(hd 1)/agent.log")"
	if ((NO_NFT)); then
		for i in 1 2; do
			kill -STOP "${MESH_PID[i]}"
			in_host "$i" nft delete table inet nsagent
		done
	fi
	LAB_HAND=${NSAGENT_LAB}h
	lab up --name "$LAB_HAND" --hosts 2 --no-agent --topology "$topo" >"$BENCH_TMP/lab-hand.log" 2>&1 ||
		bench_fail "hand lab: $(tail -5 "$BENCH_TMP/lab-hand.log")"
	build_hand "$mode"
	local f
	for f in 4 6; do
		[[ $FAMILY == all || $FAMILY == "$f" ]] || continue
		one_family "$mode" "$f"
	done
	if ((NO_NFT)); then
		for i in 1 2; do kill -CONT "${MESH_PID[i]}"; done
	fi
	for i in 1 2; do mesh_stop "$i"; done
	lab down --name "$LAB_HAND" >/dev/null
	LAB_HAND=
	lab down >/dev/null
}

# one_family MODE FAMILY: the runs and the figures of one row.
one_family() {
	local mode=$1 family=$2 r
	local -a a=() h=() ca=() ch=()
	local label=nsagent
	((NO_NFT == 0)) || label="nsagent without nft table"
	for ((r = 0; r < RUNS; r++)); do
		iperf "$LABDIR" "$family"
		a+=("$OUT")
		ca+=("$CPU")
		iperf "/run/nsagent-lab/$LAB_HAND" "$family"
		h+=("$OUT")
		ch+=("$CPU")
	done
	local ma mh rr cpa cph
	ma=$(median "${a[@]}")
	mh=$(median "${h[@]}")
	rr=$(ratio "$ma" "$mh")
	cpa=$(median "${ca[@]}")
	cph=$(median "${ch[@]}")
	gbit() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }
	echo "== data path, $mode, IPv$family: iperf3 NS1@host1 -> NS1@host2, one TCP stream, ${SECONDS_RUN} s, median of $RUNS runs"
	printf '%-34s %10s Gbit/s  %5s CPU/(Gbit/s)  (runs: %s)\n' "$label" "$(gbit "$ma")" "$cpa" "$(for v in "${a[@]}"; do printf '%s ' "$(gbit "$v")"; done)"
	printf '%-34s %10s Gbit/s  %5s CPU/(Gbit/s)  (runs: %s)\n' "by hand (ip)" "$(gbit "$mh")" "$cph" "$(for v in "${h[@]}"; do printf '%s ' "$(gbit "$v")"; done)"
	printf 'nsagent / by hand = %s (target >= %s: %s)\n' "$rr" "$TARGET" \
		"$(awk -v r="$rr" -v t="$TARGET" 'BEGIN { print (r + 0 >= t + 0) ? "met" : "MISSED" }')"
	echo "RESULT datapath mode=$mode family=$family no_nft=$NO_NFT nsagent_gbps=$(gbit "$ma") byhand_gbps=$(gbit "$mh") ratio=$rr target=$TARGET nsagent_cpu_per_gbps=$cpa byhand_cpu_per_gbps=$cph"
}

main() {
	local mode=all m
	RUNS=7
	SECONDS_RUN=5
	NO_NFT=0
	FAMILY=all
	while (($#)); do
		case $1 in
		--mode) mode=${2:?}; shift 2 ;;
		--family) FAMILY=${2:?}; shift 2 ;;
		--seconds) SECONDS_RUN=${2:?}; shift 2 ;;
		--runs) RUNS=${2:?}; shift 2 ;;
		--no-nft) NO_NFT=1; shift ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		*) bench_fail "unknown argument '$1'" ;;
		esac
	done
	[[ $mode == direct || $mode == vxlan || $mode == wireguard || $mode == all ]] ||
		bench_fail "--mode: direct, vxlan, wireguard or all"
	[[ $FAMILY == 4 || $FAMILY == 6 || $FAMILY == all ]] || bench_fail "--family: 4, 6 or all"
	[[ $RUNS =~ ^[0-9]+$ ]] && ((RUNS >= 1)) || bench_fail "--runs needs a positive number"
	[[ $SECONDS_RUN =~ ^[0-9]+$ ]] && ((SECONDS_RUN >= 1)) || bench_fail "--seconds needs a positive number"
	command -v iperf3 >/dev/null || bench_fail "iperf3 is not installed"
	command -v jq >/dev/null || bench_fail "jq is not installed"
	bench_start bench_datapath
	# shellcheck source=mesh_lib.sh
	source "$BENCH_DIR/mesh_lib.sh"
	bench_sleep_init
	echo "bench_datapath: agent $NSAGENT ($(bench_agent_kind)), $(nproc) CPUs, kernel $(uname -r)"
	[[ $mode != wireguard && $mode != all ]] || command -v wireguard-go >/dev/null ||
		bench_fail "wireguard-go is not installed (deploy/deps.sh)"
	for m in direct vxlan wireguard; do
		[[ $mode == all || $mode == "$m" ]] || continue
		one_mode "$m"
	done
}

main "$@"
