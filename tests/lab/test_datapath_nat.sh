#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# NAT in the switch topology, through the real daemon: a namespace reaches
# the outside host (which has no route back to the cluster) and is seen as
# its node's IP; cross-node namespace traffic keeps its source address; the
# agent's nftables table deleted by hand comes back and NAT works again;
# `nsagent down` leaves no table and no VXLAN device.
# shellcheck disable=SC2015 # "A && B || fail" is meant
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/datapath_lib.sh"
datapath_lab dp_nat 2

# Without NAT nothing from the cluster range could get an answer from the
# outside host: it has no route there.
[[ -z $(lab exec outside -- ip route show 172.16.0.0/16) ]] &&
	! lab exec outside -- ip route get 172.16.0.2 >/dev/null 2>&1 ||
	fail "the outside host has a route to the cluster range"

src=$(seen_as "$OUTSIDE" outside -- host1 NS1)
[[ $src == 192.168.1.5 ]] || fail "outside host sees NS1@host1 as '$src', want the node IP 192.168.1.5"
src=$(seen_as "$OUTSIDE" outside -- host2 NS2)
[[ $src == 192.168.1.6 ]] || fail "outside host sees NS2@host2 as '$src', want 192.168.1.6"

# Inside the cluster the source is kept, both ways.
src=$(seen_as 172.16.1.2 host2 NS1 -- host1 NS1)
[[ $src == 172.16.0.2 ]] || fail "NS1@host2 sees NS1@host1 as '$src', want 172.16.0.2 (no NAT)"
src=$(seen_as 172.16.0.3 host1 NS2 -- host2 NS1)
[[ $src == 172.16.1.2 ]] || fail "NS2@host1 sees NS1@host2 as '$src', want 172.16.1.2 (no NAT)"

# The table deleted by hand comes back through a repair, and NAT with it.
repairs=$(counter host1 reconcile_repairs) || fail "host1's status has no reconcile_repairs"
lab exec host1 -- nft delete table inet nsagent
poll 30 nft_table host1 || fail "deleted nft table not restored"
(($(counter host1 reconcile_repairs) > repairs)) || fail "the table came back, but not through a repair"
src=$(seen_as "$OUTSIDE" outside -- host1 NS1)
[[ $src == 192.168.1.5 ]] || fail "after the table repair the outside host sees '$src'"

# Backend auto with every peer on-link: no idle tunnel device.
! lab exec host1 -- ip link show nsa-vxlan >/dev/null 2>&1 ||
	fail "backend auto made a VXLAN device though every peer is on-link"

# down: no table, no tunnel device, no routes.
lab exec host1 -- "$NSAGENT" down --config /dev/null || fail "nsagent down"
! nft_table host1 || fail "nft table left after down"
! lab exec host1 -- ip link show nsa-vxlan >/dev/null 2>&1 || fail "VXLAN device left after down"
[[ -z $(lab exec host1 -- ip route show proto 78) ]] || fail "routes left after down"
echo PASS
