# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the WireGuard scenarios (sourced after lib.sh, peers_lib.sh
# and datapath_lib.sh), shared by the IPv4- and IPv6-underlay tests so
# that both hold the device to the same checks: what wg(8) shows, what the
# switch sees, restarts without loss and what `nsagent down` leaves.
# shellcheck shell=bash
# shellcheck disable=SC2015 # "A && B || fail" is meant

wg_peers() { lab exec "$1" -- wg show nsa-wg peers; }

# wg_device HOST MTU FAMILY NODE: HOST's nsa-wg is ours (alias) with MTU,
# as are its bridge and NS1's eth0, and WireGuard's UDP to and from its
# node address NODE (nft FAMILY ip or ip6) is not connection-tracked.
wg_device() {
	local host=$1 want=$2 fam=$3 node=$4 nft
	[[ $(mtu "$host" nsa-wg) == "$want" && $(mtu "$host" br0) == "$want" && $(mtu "$host" NS1 eth0) == "$want" ]] ||
		fail "MTUs on $host are not $want: nsa-wg $(mtu "$host" nsa-wg), br0 $(mtu "$host" br0), NS1 $(mtu "$host" NS1 eth0)"
	lab exec "$host" -- ip -d link show nsa-wg | grep_q 'alias nsagent:wireguard' ||
		fail "nsa-wg does not carry nsagent's alias"
	nft=$(lab exec "$host" -- nft list table inet nsagent)
	grep_q "$fam daddr $node udp dport 51820 counter .* notrack" <<<"$nft" &&
		grep_q "$fam saddr $node udp sport 51820 counter .* notrack" <<<"$nft" ||
		fail "WireGuard's UDP is tracked: $nft"
}

# wg_stream N ADDR: N pings every 10 ms from NS1@host1 to ADDR in the
# background into $DP_TMP/ping (pid in $WG_PINGER), once they flow;
# wg_received: how many came back.
wg_stream() {
	lab exec host1 NS1 -- ping -n -i 0.01 -c "$1" -W 1 "$2" >"$DP_TMP/ping" 2>&1 &
	WG_PINGER=$!
	DP_PIDS+=("$WG_PINGER")
	poll 30 grep -q icmp_seq= "$DP_TMP/ping" || fail "the ping to $2 did not start"
}
wg_received() { sed -n 's/.* \([0-9]*\) received.*/\1/p' "$DP_TMP/ping"; }

# wg_restart_without_loss VICTIM PEER ADDR: VICTIM's agent killed and
# started again while NS1@host1 pings ADDR every 10 ms: no ping lost, the
# peer (its address PEER in status) back in mode wireguard, and neither a
# new wireguard-go nor any kernel change (the device, its peers and its
# routes adopted as they were).
wg_restart_without_loss() {
	local victim=$1 peer=$2 addr=$3
	wg_stream 1000 "$addr"
	lab agent "$victim" kill || fail "kill the $victim agent"
	lab agent "$victim" start >/dev/null || fail "start the $victim agent again"
	poll 30 mesh_ready 2 || fail "no session after restarting $victim"
	poll 30 peer_is "$victim" "$peer" mode wireguard ||
		fail "$victim: peer $peer not in mode wireguard after its restart"
	wait "$WG_PINGER" || true
	[[ $(wg_received) == 1000 ]] ||
		fail "packets lost while the $victim agent restarted: $(grep transmitted "$DP_TMP/ping")"
	[[ $(counter "$victim" wireguard_starts) == 0 ]] ||
		fail "the restarted $victim agent started wireguard-go instead of adopting the device"
	[[ $(counter "$victim" reconcile_changes) == 0 ]] ||
		fail "the restarted $victim agent changed the kernel: $(counter "$victim" reconcile_changes) change(s)"
}

# wg_show_peer HOST KEY ENDPOINT ALLOWED: wg(8) on HOST lists exactly the
# peer KEY, at ENDPOINT, with ALLOWED ("a b" as wg prints them) and a
# handshake in the last 3 minutes.
wg_show_peer() {
	local host=$1 key=$2 endpoint=$3 allowed=$4 hs
	[[ $(wg_peers "$host") == "$key" ]] ||
		fail "wg show on $host does not list exactly the key $key: $(wg_peers "$host")"
	[[ $(lab exec "$host" -- wg show nsa-wg endpoints) == "$key	$endpoint" ]] ||
		fail "the endpoint on $host: $(lab exec "$host" -- wg show nsa-wg endpoints)"
	hs=$(lab exec "$host" -- wg show nsa-wg latest-handshakes | awk '{print $2}')
	(($(date +%s) - hs < 180)) || fail "no recent handshake on $host: $hs"
	[[ $(lab exec "$host" -- wg show nsa-wg allowed-ips) == "$key	$allowed" ]] ||
		fail "the allowed IPs on $host: $(lab exec "$host" -- wg show nsa-wg allowed-ips)"
}

# wg_only_on_switch N1 N2 PORT BYTES: the capture ($DP_TMP/cap.pcap) holds
# WireGuard's UDP between the node addresses N1 and N2 (enough packets for
# BYTES of data), no packet with a cluster address, and nothing else but
# the agents' TLS session, ARP and the underlay's ICMPv6 (neighbour
# discovery).
wg_only_on_switch() {
	local n1=$1 n2=$2 port=$3 bytes=$4 packets clear other
	local nodes="host $n1 and host $n2" cluster='net 172.16.0.0/16 or net fd6e:7361:6765::/48'
	local rest="not (udp and host $n1 and host $n2 and port $port) and not (tcp port 7470 and host $n1 and host $n2) and not arp and not icmp6"
	packets=$(captured "udp and $nodes and port $port")
	((packets > bytes / 1500)) || fail "only $packets WireGuard packets on the switch for $bytes bytes"
	clear=$(captured "$cluster")
	((clear == 0)) || fail "$clear packets with cluster addresses on the switch: $(captured_show "$cluster")"
	other=$(captured "$rest")
	((other == 0)) || fail "$other other packets on the switch: $(captured_show "$rest")"
}

# wg_down_leaves_nothing HOST OTHER: `nsagent down` on HOST leaves no
# device, UAPI socket, wireguard-go, route or table, and OTHER's device
# forgets HOST.
wg_down_leaves_nothing() {
	local host=$1 other=$2 left
	lab exec "$host" -- "$NSAGENT" down || fail "nsagent down on $host"
	! lab exec "$host" -- ip link show nsa-wg >/dev/null 2>&1 || fail "nsa-wg left after down"
	! lab exec "$host" -- test -e /run/wireguard/nsa-wg.sock || fail "the UAPI socket left after down"
	left=$(lab exec "$host" -- sh -c 'me=$(readlink /proc/self/ns/net)
		for p in $(pgrep -x wireguard-go); do [ "$(readlink /proc/$p/ns/net)" = "$me" ] && echo $p; done; true')
	[[ -z $left ]] || fail "wireguard-go left running on $host after down: pid $left"
	[[ -z $(lab exec "$host" -- ip route show proto 78) && -z $(lab exec "$host" -- ip -6 route show proto 78) ]] ||
		fail "routes left after down"
	! nft_table "$host" || fail "nft table left after down"
	poll 10 eval '[[ -z $(wg_peers '"$other"') ]]' || fail "$other's device keeps $host as a peer after it left"
}

# wg_peer_repaired HOST KEY DEST: the peer KEY removed from HOST's device
# by hand (wg set ... remove) is put back by the agent's read-back (a
# repair counted) and NS1@HOST reaches DEST again.
wg_peer_repaired() {
	local host=$1 key=$2 dest=$3 repairs
	repairs=$(counter "$host" wireguard_repairs)
	lab exec "$host" -- wg set nsa-wg peer "$key" remove
	poll 10 eval '[[ $(wg_peers '"$host"') == "$key" ]]' || fail "the peer $key not put back on $host's device"
	(($(counter "$host" wireguard_repairs) > repairs)) || fail "the peer came back, but no wireguard repair was counted"
	lab ping --timeout 10 "$host" NS1 "$dest" || fail "no traffic to $dest after the peer was put back"
}
