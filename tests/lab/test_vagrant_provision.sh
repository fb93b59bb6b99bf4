#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# deploy/vagrant/provision.sh on two lab hosts at the Vagrantfile's own
# addresses: its `configure` step writes a config the agent accepts, an
# agent started with only that config joins the other node, and its `check`
# step (status, NS1 pings the other node's NS1) passes. The deps, build and
# install steps would change this machine and are not run here (the package
# they install is tested by tests/kernel/test_deb.sh); `start` needs systemd.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

vagrantfile=$NSAGENT_SOURCE_DIR/deploy/vagrant/Vagrantfile
provision=$NSAGENT_SOURCE_DIR/deploy/vagrant/provision.sh

# The NODES table of the Vagrantfile: name, node IP, peer IP, subnet.
mapfile -t nodes < <(sed -nE 's/^ *"(node[0-9]+)" => \["([0-9.]+)", "([0-9.]+)", "([0-9./]+)"\],.*/\1 \2 \3 \4/p' \
	"$vagrantfile")
((${#nodes[@]} == 2)) || fail "expected two nodes in the Vagrantfile, found: ${nodes[*]}"
read -r _ ip1 peer1 subnet1 <<<"${nodes[0]}"
read -r _ ip2 peer2 subnet2 <<<"${nodes[1]}"
[[ $ip1 == 192.168.1.5 && $ip2 == 192.168.1.6 && $peer1 == "$ip2" && $peer2 == "$ip1" ]] ||
	fail "the Vagrantfile's nodes are not the seed's pair: ${nodes[*]}"

lab_init
lab up --hosts 2 --no-agent >/dev/null || fail "deploy/lab up"
# Lab host i has 192.168.1.(4+i): host1 is node1, host2 is node2.
prov() {
	local host=$1
	shift
	lab exec "$host" -- env NSAGENT="$NSAGENT" bash "$provision" "$@"
}

prov host1 configure 192.168.1.999 "$peer1" "$subnet1" 2>/dev/null && fail "configure took a bad IP"
prov host1 configure "$ip1" "$peer1" "$subnet1" || fail "configure on host1"
prov host2 configure "$ip2" "$peer2" "$subnet2" || fail "configure on host2"
lab exec host1 -- grep -qx "peer = $peer1" /etc/nsagent/nsagent.conf || fail "host1 config lacks its peer"

for host in host1 host2; do
	lab agent "$host" start --bare -- --config /etc/nsagent/nsagent.conf || fail "$host: agent start"
done
prov host1 check "$subnet2" >/dev/null || fail "check on host1 (NS1 -> node2's NS1)"
prov host2 check "$subnet1" >/dev/null || fail "check on host2 (NS1 -> node1's NS1)"
lab exec host1 -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics | grep_q '^nsagent_sessions' ||
	fail "the provisioned metrics endpoint does not answer"
echo PASS
