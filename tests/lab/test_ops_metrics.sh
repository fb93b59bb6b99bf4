#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# --metrics: Prometheus text over HTTP, scraped with curl inside a lab host.
# Checks the families, that reconcile repairs count a real repair, the
# namespace gauge follows `ns add`, only GET /metrics is served, a reload
# moves the endpoint, and an endpoint off loopback is warned about.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

lab_init
lab up --hosts 1 --no-agent >/dev/null || fail "deploy/lab up"
printf '[nsagent]\nmetrics = 127.0.0.1:9470\n' |
	lab exec host1 -- sh -c 'cat >/etc/nsagent/nsagent.conf'
lab agent host1 start || fail "agent start"
scrape() { lab exec host1 -- curl -sf --max-time 5 "http://127.0.0.1:${1:-9470}/metrics"; }

text=$(scrape) || fail "no metrics on 127.0.0.1:9470"
for family in nsagent_sessions nsagent_routes nsagent_adverts_rejected_total \
	nsagent_build_info nsagent_reconcile_repairs_total nsagent_namespaces; do
	grep -q "^# TYPE $family " <<<"$text" || fail "family $family missing"
done
[[ $(metric_value 'nsagent_sessions{state="established"}' "$text") == 0 ]] || fail "sessions: $text"
[[ $(metric_value 'nsagent_namespaces' "$text") == 2 ]] || fail "namespaces gauge is not 2"
[[ $(metric_value 'nsagent_healthy' "$text") == 1 ]] || fail "healthy gauge is not 1"
repairs=$(metric_value nsagent_reconcile_repairs_total "$text")
ctype=$(lab exec host1 -- curl -sf -o /dev/null -w '%{content_type}' http://127.0.0.1:9470/metrics)
[[ $ctype == "text/plain; version=0.0.4"* ]] || fail "content type: $ctype"

# A real repair: delete NS1's host veth; the agent puts it back and counts it.
lab exec host1 -- ip link del nsa-NS1
lab ping --timeout 10 host1 NS1 172.16.0.1 || fail "NS1 not repaired"
deadline=$((SECONDS + 10))
until (($(metric_value nsagent_reconcile_repairs_total "$(scrape)") > repairs)); do
	((SECONDS < deadline)) || fail "nsagent_reconcile_repairs_total did not grow after a repair"
	sleep 0.2
done

lab exec host1 -- "$NSAGENT" ns add extra >/dev/null || fail "ns add"
[[ $(metric_value nsagent_namespaces "$(scrape)") == 3 ]] || fail "namespaces gauge did not follow ns add"
[[ $(metric_value nsagent_control_requests_total "$(scrape)") -ge 1 ]] || fail "control requests not counted"

code=$(lab exec host1 -- curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9470/)
[[ $code == 404 ]] || fail "GET / answered $code (want 404)"
code=$(lab exec host1 -- curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9470/metrics)
[[ $code == 405 || $code == 501 ]] || fail "POST answered $code"

# Reload moves the endpoint: the new port answers, the old one is closed.
printf '[nsagent]\nmetrics = 127.0.0.1:9471\n' |
	lab exec host1 -- sh -c 'cat >/etc/nsagent/nsagent.conf'
lab exec host1 -- "$NSAGENT" reload >/dev/null || fail "reload"
scrape 9471 >/dev/null || fail "no metrics on the new port after reload"
scrape 9470 >/dev/null 2>&1 && fail "the old metrics port still answers"
[[ $(metric_value 'nsagent_reloads_total{result="ok"}' "$(scrape 9471)") == 1 ]] || fail "reload not counted"

# An endpoint on another address than loopback is served, with a warning
# naming it: at a reload that moves it there, and at start.
exposed="metrics endpoint 0.0.0.0:9472 is not a loopback address: it exposes the agent's metrics"
warnings() { lab agent host1 log | grep -cF "$exposed" || true; }
(($(warnings) == 0)) || fail "a loopback endpoint was warned about"
printf '[nsagent]\nmetrics = 0.0.0.0:9472\n' |
	lab exec host1 -- sh -c 'cat >/etc/nsagent/nsagent.conf'
lab exec host1 -- "$NSAGENT" reload >/dev/null || fail "reload to 0.0.0.0:9472"
scrape 9472 >/dev/null || fail "no metrics on 0.0.0.0:9472 after reload"
(($(warnings) == 1)) || fail "moving the endpoint to 0.0.0.0 logged $(warnings) warnings, want 1"
lab agent host1 restart || fail "agent restart"
(($(warnings) == 2)) || fail "starting with metrics on 0.0.0.0 logged no warning"
echo PASS
