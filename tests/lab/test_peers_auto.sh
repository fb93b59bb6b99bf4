#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Auto subnets: 8 hosts started with only --node-ip and --peer (their
# predecessor) claim 8 distinct /24s of 172.16.0.0/16 and route to each
# other; after every agent restarts, each host keeps its subnet.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"

n=8
lab_init peers_auto
lab up --hosts "$n" --no-agent --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"

ip_of() { echo "192.168.1.$((4 + $1))"; }
start_all() {
	local i peer
	for ((i = 1; i <= n; i++)); do
		if ((i == 1)); then peer=2; else peer=$((i - 1)); fi
		lab agent "host$i" start --bare --no-wait -- --node-ip "$(ip_of "$i")" \
			--peer "$(ip_of "$peer")" >/dev/null || fail "start host$i"
	done
}
# the bridge's subnet on a host, e.g. 172.16.37.0/24
subnet_of() {
	lab exec "$1" -- ip -4 -o addr show dev br0 |
		awk '{split($4, a, "/"); split(a[1], o, "."); print o[1] "." o[2] "." o[3] ".0/" a[2]}'
}
subnets() {
	local i
	for ((i = 1; i <= n; i++)); do subnet_of "host$i"; done
}
distinct() {
	local s
	s=$(subnets)
	[[ $(grep -c . <<<"$s") == "$n" && $(sort -u <<<"$s" | grep -c .) == "$n" ]]
}

start_all
poll 90 mesh_ready "$n" || fail "no full mesh of $n auto-claimed hosts"
poll 30 distinct || fail "subnets are not distinct: $(subnets | tr '\n' ' ')"
first=$(subnets)
while read -r s; do
	[[ $s == 172.16.*.0/24 ]] || fail "subnet $s is not a /24 of the cluster range"
done <<<"$first"
# every host routes every other host's subnet
for ((i = 1; i <= n; i++)); do
	want=$(subnets | grep -v -x "$(subnet_of "host$i")" | sort)
	have=$(routes "host$i" | awk '{print $1}' | sort)
	[[ $want == "$have" ]] || fail "host$i routes $have, want $want"
done

for ((i = 1; i <= n; i++)); do lab agent "host$i" stop || fail "stop host$i"; done
start_all
poll 90 mesh_ready "$n" || fail "no full mesh after the restart"
[[ $(subnets) == "$first" ]] || fail "subnets changed across a restart: $(subnets | tr '\n' ' ') (was $(tr '\n' ' ' <<<"$first"))"
echo PASS
