#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --backend on one L2 segment (switch topology), 2 hosts, each mode in turn
# with a 4 MiB TCP transfer and full-size DF pings:
#   auto   -> direct (on-link), namespaces at the underlay MTU (1500);
#   vxlan  -> forced over VXLAN, namespaces at 1450, VXLAN device at 1450;
#   direct -> no VXLAN device at all, back to 1500, direct routes.
# Switching backend by restarting the agents moves routes, entries and MTUs
# without leftovers.
# shellcheck disable=SC2015 # "A && B || fail" is meant
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
datapath_lab dp_backend 2

route_to_host2() { lab exec host1 -- ip -4 route show 172.16.1.0/24 proto nsagent; }
# both_over_vxlan: each host routes the other's subnet through nsa-vxlan.
both_over_vxlan() {
	lab exec host1 -- ip -4 route show 172.16.1.0/24 proto nsagent | grep_q 'dev nsa-vxlan' &&
		lab exec host2 -- ip -4 route show 172.16.0.0/24 proto nsagent | grep_q 'dev nsa-vxlan'
}
no_vxlan_device() {
	! lab exec host1 -- ip link show nsa-vxlan >/dev/null 2>&1 &&
		! lab exec host2 -- ip link show nsa-vxlan >/dev/null 2>&1
}
restart_both() {
	lab agent host1 restart -- "$@" >/dev/null || fail "restart host1 $*"
	lab agent host2 restart -- "$@" >/dev/null || fail "restart host2 $*"
}
check_mode() { # MODE MTU
	local mode=$1 want_mtu=$2 h
	for h in host1 host2; do
		[[ $(mtu "$h" NS1 eth0) == "$want_mtu" && $(mtu "$h" br0) == "$want_mtu" &&
			$(mtu "$h" nsa-NS2) == "$want_mtu" ]] ||
			fail "$mode: MTUs on $h are not $want_mtu"
	done
	full_size host1 NS1 172.16.1.2 || fail "$mode: full-size DF ping host1 -> host2"
	full_size host2 NS2 172.16.0.3 || fail "$mode: full-size DF ping host2 -> host1"
	out=$(bulk host1 NS1 host2 NS1 172.16.1.2) || fail "$mode: bulk transfer 1 -> 2: $out"
	out=$(bulk host2 NS2 host1 NS2 172.16.0.3) || fail "$mode: bulk transfer 2 -> 1: $out"
}

# auto on one segment: direct.
poll 30 peer_is host1 192.168.1.6 mode direct ||
	fail "auto: host1's status shows mode '$(peer_field host1 192.168.1.6 mode)' for host2, want direct"
# The reason is the log's to say (it is not in the model).
poll 30 logs host1 "peer 192.168.1.6:7470 ([0-9a-f]*): mode direct (auto: on-link on eth0)" ||
	fail "auto: host1 does not log why host2 is direct"
[[ $(route_to_host2) == "172.16.1.0/24 via 192.168.1.6 dev eth0 "* ]] ||
	fail "auto: route is $(route_to_host2)"
check_mode auto 1500

restart_both --backend vxlan
poll 20 both_over_vxlan || fail "--backend vxlan: route stays $(route_to_host2)"
poll 20 mesh_ready 2 || fail "--backend vxlan: no mesh"
poll 30 peer_is host1 192.168.1.6 mode vxlan && poll 30 peer_is host2 192.168.1.5 mode vxlan ||
	fail "--backend vxlan: status shows modes '$(peer_field host1 192.168.1.6 mode)' and '$(peer_field host2 192.168.1.5 mode)'"
poll 30 logs host1 "peer 192.168.1.6:7470 ([0-9a-f]*): mode vxlan (--backend vxlan)" ||
	fail "--backend vxlan: host1 does not log why host2 is over vxlan"
[[ $(mtu host1 nsa-vxlan) == 1450 ]] || fail "--backend vxlan: nsa-vxlan MTU $(mtu host1 nsa-vxlan)"
check_mode vxlan 1450

restart_both --backend direct
poll 20 no_vxlan_device || fail "--backend direct: the VXLAN device stays"
poll 20 mesh_ready 2 || fail "--backend direct: no mesh"
[[ $(route_to_host2) == "172.16.1.0/24 via 192.168.1.6 dev eth0 "* ]] ||
	fail "--backend direct: route is $(route_to_host2)"
poll 30 peer_is host1 192.168.1.6 mode direct && poll 30 peer_is host2 192.168.1.5 mode direct ||
	fail "--backend direct: status shows modes '$(peer_field host1 192.168.1.6 mode)' and '$(peer_field host2 192.168.1.5 mode)'"
check_mode direct 1500
echo PASS
