#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `deploy/lab up --containers`, the newcomer's view of containers on the
# cluster network, does what it shows: podman on host1 and host2 with
# nsagent's CNI plugin, web (busybox httpd) on host1 and client on host2,
# and the cross-node request printed with the address web saw, which is
# the client's own. `deploy/lab podman` reaches the hosts' podman, the
# agents list the containers, and `down` removes the containers' files and
# cgroups with the lab.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${NSAGENT_CNI:?NSAGENT_CNI must name the nsagent-cni binary (ctest sets it)}"
export NSAGENT_CNI

lab_init labcontainers
# What cannot work is refused before anything is built.
out=$(lab up --containers --hosts 1 2>&1) && fail "up --containers --hosts 1 succeeded: $out"
grep_q -F -- "--containers needs at least 2 hosts" <<<"$out" || fail "up --containers --hosts 1 said: $out"
out=$(lab up --containers --no-agent 2>&1) && fail "up --containers --no-agent succeeded: $out"
grep_q -F -- "--containers needs the agents" <<<"$out" || fail "up --containers --no-agent said: $out"
[[ ! -e /run/nsagent-lab/$NSAGENT_LAB ]] || fail "a refused up left /run/nsagent-lab/$NSAGENT_LAB"

out=$(lab up --containers 2>&1) || fail "deploy/lab up --containers exited $?: $out"
podman_dir=$(cat "/run/nsagent-lab/$NSAGENT_LAB/podman.dir") || fail "no podman.dir in the lab"

# address HOST NAME: the container's address, as podman says.
address() { lab podman "$1" inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$2"; }
web=$(address host1 web) || fail "deploy/lab podman host1 inspect web failed"
client=$(address host2 client) || fail "deploy/lab podman host2 inspect client failed"
[[ $web == 172.16.0.* && $client == 172.16.1.* ]] ||
	fail "web has '$web' (want host1's 172.16.0.0/24), client '$client' (want host2's 172.16.1.0/24)"
grep_q -F "== host2 container client ($client) -> http://$web/cgi-bin/addr" <<<"$out" ||
	fail "up does not show the request from client to web: $out"
grep_q -xF "web saw the request come from $client" <<<"$out" ||
	fail "up does not show web seeing the client's own address $client: $out"
grep_q -F "deploy/lab podman --name $NSAGENT_LAB host2 exec client ping -c 3 $web" <<<"$out" ||
	fail "up does not suggest the podman command: $out"
lab podman host2 exec client ping -c 1 -W 5 "$web" >/dev/null ||
	fail "deploy/lab podman host2 exec client ping $web failed"
# The agents attached them (origin cni), each on its node.
status_json host1 | jq -e --arg ip "$web" 'any(.attachments[]; .ip == $ip and .origin == "cni")' >/dev/null ||
	fail "host1's agent does not list web's $web: $(status_json host1 | jq -c .attachments)"
status_json host2 | jq -e --arg ip "$client" 'any(.attachments[]; .ip == $ip and .origin == "cni")' >/dev/null ||
	fail "host2's agent does not list client's $client: $(status_json host2 | jq -c .attachments)"

# down removes the containers' files and cgroups with the lab.
[[ -d $podman_dir ]] || fail "the containers' directory $podman_dir is missing while the lab is up"
lab down || fail "deploy/lab down exited $?"
[[ ! -e $podman_dir ]] || fail "down left the containers' directory $podman_dir"
left=$(find /sys/fs/cgroup/ -maxdepth 2 -name "nsagent-lab.$NSAGENT_LAB.*")
[[ -z $left ]] || fail "down left the containers' cgroups: $left"
echo PASS
