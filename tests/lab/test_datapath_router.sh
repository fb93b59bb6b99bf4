#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Router topology, 4 hosts (host1, host3 on 192.168.1.0/24; host2, host4 on
# 192.168.2.0/24), --backend auto: peers on the same subnet are direct,
# across the router vxlan, and status says so per peer. Every namespace
# reaches every other; cross-node traffic keeps its source on both kinds of
# path, and NAT to the outside host still shows the node IP. `nsagent
# status` shows the mode per peer too. The namespaces'
# MTU leaves room for the VXLAN header and a 4 MiB TCP transfer crosses both
# a direct and a vxlan path. The VXLAN device and its entries are repaired
# when deleted; `nsagent down` removes the device and the table.
# shellcheck disable=SC2015 # "A && B || fail" is meant
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
datapath_init dp_router

n=4
lab up --topology router --hosts "$n" >/dev/null || fail "deploy/lab up --topology router --hosts $n"
poll 60 mesh_ready "$n" || fail "no full mesh of $n hosts across the router"

ip_of() { echo "192.168.$((2 - $1 % 2)).$((4 + $1))"; }
# Per host, per peer: the mode in status --json and the route in the kernel.
for ((i = 1; i <= n; i++)); do
	rt=$(lab exec "host$i" -- ip -4 route show proto nsagent)
	for ((j = 1; j <= n; j++)); do
		((i != j)) || continue
		if (((i - j) % 2 == 0)); then mode=direct; else mode=vxlan; fi
		poll 30 peer_is "host$i" "$(ip_of "$j")" mode "$mode" ||
			fail "host$i's status does not show mode $mode for host$j: $(peer_field "host$i" "$(ip_of "$j")" mode)"
		s=172.16.$((j - 1))
		if [[ $mode == direct ]]; then
			grep -q "^$s.0/24 via $(ip_of "$j") dev eth0" <<<"$rt" ||
				fail "host$i: no direct route to host$j: $rt"
		else
			grep -q "^$s.0/24 via $s.0 dev nsa-vxlan .*onlink" <<<"$rt" ||
				fail "host$i: no vxlan route to host$j: $rt"
		fi
	done
done
# ... and in `nsagent status`.
st=$(lab exec host1 -- "$NSAGENT" status) || fail "nsagent status on host1"
grep -Eq "192\.168\.2\.6:7470 +established +vxlan " <<<"$st" &&
	grep -Eq "192\.168\.1\.7:7470 +established +direct " <<<"$st" &&
	grep -Eq "192\.168\.2\.8:7470 +established +vxlan " <<<"$st" ||
	fail "status on host1 does not show the per-peer modes: $st"
# host1's VXLAN entries: exactly one neighbour and one FDB entry per vxlan peer.
fdb=$(lab exec host1 -- bridge fdb show dev nsa-vxlan)
[[ $(grep -c . <<<"$fdb") == 2 ]] && grep -q "02:6e:c0:a8:02:06 dst 192.168.2.6 .*permanent" <<<"$fdb" &&
	grep -q "02:6e:c0:a8:02:08 dst 192.168.2.8 .*permanent" <<<"$fdb" ||
	fail "host1's FDB on nsa-vxlan is not one permanent entry per vxlan peer: $fdb"
neigh=$(lab exec host1 -- ip neigh show dev nsa-vxlan)
grep -q "172.16.1.0 lladdr 02:6e:c0:a8:02:06 PERMANENT" <<<"$neigh" ||
	fail "host1's neighbour for host2 missing: $neigh"
dev=$(lab exec host1 -- ip -d link show nsa-vxlan)
grep -q "vxlan id 7470 local 192.168.1.5 .*dstport 4789 nolearning" <<<"$dev" ||
	fail "nsa-vxlan settings: $dev"

# MTU: some peers are vxlan, so the namespaces leave room for its header.
[[ $(mtu host1 nsa-vxlan) == 1450 && $(mtu host1 br0) == 1450 && $(mtu host1 nsa-NS1) == 1450 &&
	$(mtu host1 NS1 eth0) == 1450 ]] || fail "MTUs on host1 are not 1450 with vxlan peers"

# All namespaces reach all others.
for ((i = 1; i <= n; i++)); do
	for ns in NS1 NS2; do
		for ((j = 1; j <= n; j++)); do
			for a in 2 3; do
				[[ $i == "$j" && $ns == NS$((a - 1)) ]] && continue
				lab ping --timeout 10 "host$i" "$ns" "172.16.$((j - 1)).$a" ||
					fail "$ns@host$i cannot reach 172.16.$((j - 1)).$a"
			done
		done
	done
done

# No NAT inside the cluster, over vxlan (host2) and direct (host3).
src=$(seen_as 172.16.1.2 host2 NS1 -- host1 NS1)
[[ $src == 172.16.0.2 ]] || fail "over vxlan NS1@host2 sees NS1@host1 as '$src'"
src=$(seen_as 172.16.2.2 host3 NS1 -- host1 NS1)
[[ $src == 172.16.0.2 ]] || fail "direct, NS1@host3 sees NS1@host1 as '$src'"
src=$(seen_as 172.16.0.3 host1 NS2 -- host4 NS2)
[[ $src == 172.16.3.3 ]] || fail "over vxlan NS2@host1 sees NS2@host4 as '$src'"
# NAT to the outside, from both underlay subnets.
src=$(seen_as "$OUTSIDE" outside -- host1 NS1)
[[ $src == 192.168.1.5 ]] || fail "outside host sees NS1@host1 as '$src'"
src=$(seen_as "$OUTSIDE" outside -- host2 NS1)
[[ $src == 192.168.2.6 ]] || fail "outside host sees NS1@host2 as '$src'"

# Full-size packets with DF and 4 MiB of TCP over each mode.
full_size host1 NS1 172.16.1.2 || fail "full-size DF ping over vxlan"
full_size host1 NS1 172.16.2.2 || fail "full-size DF ping direct"
out=$(bulk host1 NS1 host2 NS1 172.16.1.2) || fail "bulk transfer over vxlan: $out"
out=$(bulk host1 NS1 host3 NS2 172.16.2.3) || fail "bulk transfer direct: $out"
out=$(bulk host4 NS2 host1 NS2 172.16.0.3) || fail "bulk transfer over vxlan (4 -> 1): $out"

# Repair: the device deleted by hand comes back with its entries and routes,
# made by the repair pass (the repairs counter; not the log's "first:"
# event, which is whichever notification the kernel sent first: the
# device's neighbours go before the device).
repairs() { counter host1 reconcile_repairs; }
before=$(repairs)
lab exec host1 -- ip link del nsa-vxlan
lab ping --timeout 10 host1 NS1 172.16.1.2 || fail "vxlan path not repaired after deleting nsa-vxlan"
lab exec host1 -- ip -d link show nsa-vxlan | grep_q 'alias nsagent:vxlan' ||
	fail "nsa-vxlan is back without nsagent's alias: $(lab exec host1 -- ip -d link show nsa-vxlan)"
(($(repairs) > before)) || fail "the device came back, but not through a repair: $(repairs) <= $before"
before=$(repairs)
lab exec host1 -- ip neigh del 172.16.3.0 dev nsa-vxlan
lab ping --timeout 10 host1 NS1 172.16.3.2 || fail "vxlan path not repaired after deleting a neighbour"
(($(repairs) > before)) || fail "the neighbour came back, but not through a repair"

# down: no tunnel device and no table left.
lab exec host1 -- "$NSAGENT" down --config /dev/null || fail "nsagent down"
! lab exec host1 -- ip link show nsa-vxlan >/dev/null 2>&1 || fail "VXLAN device left after down"
! nft_table host1 || fail "nft table left after down"
[[ -z $(lab exec host1 -- ip route show proto 78) ]] || fail "routes left after down"
echo PASS
