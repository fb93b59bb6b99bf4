#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Prometheus's own parser accepts a live agent's /metrics: `promtool check
# metrics` (Debian's prometheus package) on host1's scrape exits 0 and says
# nothing. The scrape is taken once every labelled family has samples: a
# peer with an established session, an installed route and probes, an
# advert entry rejected (a fake peer announces 0.0.0.0/0), a reload done.
# Also: nsagent_build_info names the version, every family is written
# once, and the status JSON counts what the metrics count (one model).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

command -v promtool >/dev/null || fail "promtool not installed (deploy/deps.sh: prometheus)"
lab_init ops_promtool
flags=(--probe-interval 300ms --metrics 127.0.0.1:9470)
lab up --hosts 2 --no-agent >/dev/null || fail "deploy/lab up"
lab agent host1 start -- "${flags[@]}" || fail "host1 agent start"
lab agent host2 start -- "${flags[@]}" || fail "host2 agent start"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer"

scrape() { lab exec host1 -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics; }
probed() { [[ $(metric_value 'nsagent_probe_up{peer="192.168.1.6",family="ipv4"}' "$(scrape)") == 1 ]]; }
poll 30 probed || fail "host1's probe of host2 never came up"

# Without a key a peer's node IP must be its session's source address.
lab exec host2 -- ip addr add 192.168.1.200/24 dev eth0
fakepeer host2 session --connect 192.168.1.5:7470 --node-ip 192.168.1.200 --from 192.168.1.200 \
	--hold 1 --advert 0.0.0.0/0 || fail "fake session did not stay up (exit $?)"
lab exec host1 -- "$NSAGENT" reload >/dev/null || fail "reload"

text=$(scrape) || fail "no metrics on host1"
said=$(promtool check metrics <<<"$text" 2>&1) || fail "promtool check metrics failed: $said"
[[ -z $said ]] || fail "promtool check metrics complains: $said"

# The labelled families have samples, with the values of what happened.
for want in \
	'nsagent_sessions{state="established"} 1' \
	'nsagent_routes{state="installed"} 1' \
	'nsagent_adverts_rejected_total{reason="default_route"} 1' \
	'nsagent_reloads_total{result="ok"} 1' \
	"nsagent_build_info{version=\"$(lab exec host1 -- "$NSAGENT" version | awk '{print $NF}')\"} 1"; do
	grep_q -xF "$want" <<<"$text" || fail "no '$want' in host1's metrics:
$text"
done
grep_q -E '^nsagent_probe_rtt_seconds\{peer="192.168.1.6",family="ipv4"\} ' <<<"$text" ||
	fail "no probe RTT of host2"
# Every family once: no HELP (or TYPE) line names a family twice.
dups=$(grep -E '^# (HELP|TYPE) ' <<<"$text" | awk '{print $2, $3}' | sort | uniq -d)
[[ -z $dups ]] || fail "families written twice: $dups"
# One model: status counts what the metrics count.
json=$(lab exec host1 -- "$NSAGENT" status --json) || fail "status --json"
[[ $(jq '.counters.adverts_rejected.default_route' <<<"$json") == 1 ]] ||
	fail "status does not count the rejected default route: $(jq -c .counters <<<"$json")"
[[ $(jq '.counters.reloads.ok' <<<"$json") == 1 ]] || fail "status does not count the reload"
echo PASS
