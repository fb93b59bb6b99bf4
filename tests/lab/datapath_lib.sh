# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the data-path scenarios (sourced after lib.sh and
# peers_lib.sh): who a server sees as the client, bulk TCP transfers, MTUs.
# shellcheck shell=bash

export OUTSIDE=198.51.100.10 # the lab's outside host
BULK_BYTES=$((4 * 1024 * 1024))
DP_TMP=$(mktemp -d "/tmp/nsagent-datapath.$$.XXXXXX")
DP_PIDS=()

# Runs at exit before the lab goes: background servers and temp files.
dp_cleanup() {
	local pid
	for pid in "${DP_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -rf "$DP_TMP"
}

# target: "HOST NS" or "HOST" (a host or the outside node) as words for `lab exec`.
listening() { # TARGET... -- PORT
	local port=${*: -1}
	lab exec "${@:1:$#-2}" -- ss -Hltn "sport = :$port" | grep_q .
}

dp_port() { echo $((20000 + (RANDOM % 20000))); }

# socat's address of a TCP client to ADDR:PORT and of a listener on PORT,
# of ADDR's family (an IPv6 address is bracketed, and listened for on ::).
tcp_to() { if [[ $1 == *:* ]]; then echo "TCP6:[$1]:$2"; else echo "TCP:$1:$2"; fi; }
tcp_listen() { if [[ $1 == *:* ]]; then echo "TCP6-LISTEN:$2"; else echo "TCP-LISTEN:$2"; fi; }

# seen_as ADDR SERVER... -- CLIENT...: the address a one-shot TCP server on
# SERVER (e.g. "host2 NS1" or "outside") sees when CLIENT connects to ADDR.
seen_as() {
	local addr=$1
	shift
	local server=() client=() port pid
	while [[ $1 != -- ]]; do server+=("$1"); shift; done
	shift
	client=("$@")
	port=$(dp_port)
	# shellcheck disable=SC2016 # SOCAT_PEERADDR is socat's, for the child
	lab exec "${server[@]}" -- timeout 20 socat "$(tcp_listen "$addr" "$port"),reuseaddr" \
		SYSTEM:'echo $SOCAT_PEERADDR' >/dev/null 2>&1 &
	pid=$!
	DP_PIDS+=("$pid")
	poll 30 listening "${server[@]}" -- "$port" || { echo "no listener on ${server[*]}:$port"; return 1; }
	lab exec "${client[@]}" -- timeout 10 socat -u "$(tcp_to "$addr" "$port")" - |
		canonical_addr || true
	wait "$pid" 2>/dev/null || true
}

# canonical_addr: the address on stdin as people write it: socat writes an
# IPv6 peer in full and in brackets ([fd6e:7361:6765:0000:...:0002]);
# anything else passes unchanged.
canonical_addr() {
	python3 -c 'import ipaddress, sys
a = sys.stdin.read().strip()
try:
    print(ipaddress.ip_address(a.strip("[]")))
except ValueError:
    print(a)'
}

# bulk FROM_HOST FROM_NS TO_HOST TO_NS TO_ADDR: BULK_BYTES of random data
# over one TCP connection; succeeds when the receiver got exactly them.
# TCP sets DF on every segment (Linux path MTU discovery, checked below),
# so a segment that does not fit a path is not fragmented but lost until
# PMTU discovery adapts: a black hole shows as a stalled, timed-out copy.
bulk() {
	local from=("$1" "$2") to=("$3" "$4") addr=$5 port pid want got
	[[ -s $DP_TMP/data ]] || head -c "$BULK_BYTES" /dev/urandom >"$DP_TMP/data"
	want=$(sha256sum <"$DP_TMP/data" | cut -d' ' -f1)
	[[ $(lab exec "${from[@]}" -- sysctl -n net.ipv4.ip_no_pmtu_disc) == 0 ]] ||
		{ echo "path MTU discovery (DF) is off in ${from[*]}"; return 1; }
	port=$(dp_port)
	rm -f "$DP_TMP/received"
	lab exec "${to[@]}" -- timeout 30 socat -u "$(tcp_listen "$addr" "$port"),reuseaddr" - \
		>"$DP_TMP/received" 2>/dev/null &
	pid=$!
	DP_PIDS+=("$pid")
	poll 30 listening "${to[@]}" -- "$port" || { echo "no listener on ${to[*]}:$port"; return 1; }
	lab exec "${from[@]}" -- timeout 30 socat -u "OPEN:$DP_TMP/data" "$(tcp_to "$addr" "$port")" ||
		{ echo "sender ${from[*]} -> $addr failed"; return 1; }
	wait "$pid" || { echo "receiver ${to[*]} failed"; return 1; }
	got=$(sha256sum <"$DP_TMP/received" | cut -d' ' -f1)
	[[ $got == "$want" ]] || { echo "received $(stat -c %s "$DP_TMP/received") of $BULK_BYTES bytes, or other bytes"; return 1; }
}

# mtu HOST [NS] IFNAME
mtu() {
	local ifname=${*: -1}
	lab exec "${@:1:$#-1}" -- cat "/sys/class/net/$ifname/mtu"
}

# full_size FROM_HOST FROM_NS ADDR: the largest ICMP echo that fits the
# namespace's eth0, with DF, crosses the path and comes back (IPv6: 48
# bytes of headers, and IPv6 is never fragmented on the way).
full_size() {
	local m
	m=$(mtu "$1" "$2" eth0)
	if [[ $3 == *:* ]]; then
		lab exec "$1" "$2" -- ping -6 -n -c 2 -i 0.2 -W 2 -M "do" -s $((m - 48)) "$3" >/dev/null
	else
		lab exec "$1" "$2" -- ping -n -c 2 -i 0.2 -W 2 -M "do" -s $((m - 28)) "$3" >/dev/null
	fi
}

# capture_start SWITCH PORT: tcpdump on SWITCH's side of a host's port
# (named after the host) into $DP_TMP/cap.pcap, until capture_stop;
# returns once it listens (tcpdump writes the file's header then).
capture_start() {
	lab exec "$1" -- tcpdump -i "$2" -n -U -w - 2>/dev/null >"$DP_TMP/cap.pcap" &
	DP_CAPTURE=$!
	DP_PIDS+=("$DP_CAPTURE")
	poll 10 test -s "$DP_TMP/cap.pcap" || { echo "tcpdump on $1 port $2 does not capture"; return 1; }
}
capture_stop() {
	kill "$DP_CAPTURE" 2>/dev/null || true
	wait "$DP_CAPTURE" 2>/dev/null || true
}
# captured FILTER: how many captured packets match the tcpdump FILTER;
# captured_show FILTER: the first few of them, for a failure message.
captured() { tcpdump -r "$DP_TMP/cap.pcap" -n "$1" 2>/dev/null | grep -c . || true; }
captured_show() { tcpdump -r "$DP_TMP/cap.pcap" -n "$1" 2>/dev/null | head -5; }

# ns1_crossing A1 A2: NS1@host1 (address A1) and NS1@host2 (A2), of one
# family, reach each other: a ping, full-size packets with DF both ways,
# each seen by the other with its own address (no NAT), 4 MiB of TCP both
# ways. Fails naming what did not hold.
ns1_crossing() {
	local a1=$1 a2=$2 fam=4 src out
	[[ $a2 != *:* ]] || fam=6
	poll 30 lab exec host1 NS1 -- ping -"$fam" -n -c 1 -W 1 "$a2" || fail "NS1@host1 cannot ping $a2"
	full_size host1 NS1 "$a2" || fail "full-size DF ping NS1@host1 -> $a2"
	full_size host2 NS1 "$a1" || fail "full-size DF ping NS1@host2 -> $a1"
	src=$(seen_as "$a2" host2 NS1 -- host1 NS1)
	[[ $src == "$a1" ]] || fail "NS1@host2 sees NS1@host1 as '$src', not $a1"
	src=$(seen_as "$a1" host1 NS1 -- host2 NS1)
	[[ $src == "$a2" ]] || fail "NS1@host1 sees NS1@host2 as '$src', not $a2"
	out=$(bulk host1 NS1 host2 NS1 "$a2") || fail "bulk TCP to $a2: $out"
	out=$(bulk host2 NS1 host1 NS1 "$a1") || fail "bulk TCP to $a1: $out"
}

# nft_table HOST: succeeds while the agent's table exists.
nft_table() {
	local out
	out=$(lab exec "$1" -- nft list tables 2>/dev/null) || return 1
	grep -q '^table inet nsagent$' <<<"$out"
}

datapath_init() {
	lab_init "$@"
	lab_at_exit dp_cleanup
}

# datapath_lab NAME N: datapath_init NAME, then a lab of N hosts on one
# switch, waiting up to 30 s for their full mesh.
datapath_lab() {
	local n=$2
	datapath_init "$1"
	lab up --hosts "$n" >/dev/null || fail "deploy/lab up"
	poll 30 mesh_ready "$n" || fail "no mesh of $n hosts"
}
