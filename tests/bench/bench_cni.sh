#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# CNI plugin latency: N ADDs at once, each into a fresh network namespace
# of its own, then N DELs at once, the plugins called the way a runtime
# calls them (cni_lib.sh), in one lab host. Per plugin and N: median and
# 90th percentile of one call's time (ms), over N calls times R runs.
#
#   bench_cni.sh [--runs R] [N...]            (default R: 5, N: 1 50)
#
# Plugins, taking turns run by run (which goes first alternates), in the
# same lab host:
#   ref       the reference pair a podman host uses: bridge (cnib0, gateway
#             10.88.0.1) with host-local addresses from 10.88.0.0/16, its
#             leases in the benchmark's temp dir
#   nsagent   nsagent-cni ($NSAGENT_CNI, else the one beside $NSAGENT) with
#             the shipped deploy/cni/10-nsagent.conflist, asking an agent
#             running in the host (--subnet 172.16.0.0/24, NS1 and NS2)
# Then, per N, the ratio nsagent / ref of the ADD and DEL medians (the
# issue's target: ADD <= 0.5).
# Every call must succeed with an address of its own, no address may be
# held twice in the host (cni_lib.sh), DEL must remove the interface, and
# after the nsagent DELs the agent must list no attachment; the figures
# themselves are never judged.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=cni_lib.sh
source "$(dirname "$0")/cni_lib.sh"

# ------------------------------------------------------------- inside

# conflist_ref FILE: bridge + host-local, nothing outside the host changed
# (no masquerading rule, leases under $BENCH_TMP, not /var/lib/cni).
conflist_ref() {
	cat >"$1" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "benchref",
  "plugins": [
    { "type": "bridge", "bridge": "cnib0", "isGateway": true, "ipMasq": false,
      "ipam": { "type": "host-local", "dataDir": "$BENCH_TMP/cni-ipam",
                "ranges": [[{ "subnet": "10.88.0.0/16", "gateway": "10.88.0.1" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] } }
  ]
}
JSON
}

AGENT_PID=
# no_attachments: the agent lists none (after the DELs of a run).
no_attachments() {
	local st
	st=$("$NSAGENT" status --json) || bench_fail "nsagent status failed: $st"
	jq -e '.attachments == []' <<<"$st" >/dev/null ||
		bench_fail "the agent still lists attachments after every DEL: $(jq -c .attachments <<<"$st")"
}

inside() {
	local runs=$1 n r label add del
	shift
	mkdir -p "$BENCH_TMP/cni-bin"
	bench_sleep_init
	conflist_ref "$BENCH_TMP/ref.conflist"
	ln -s "$NSAGENT_CNI" "$BENCH_TMP/cni-bin/nsagent"
	: >"$BENCH_TMP/empty.conf"
	"$NSAGENT" run --config "$BENCH_TMP/empty.conf" --subnet 172.16.0.0/24 \
		>>"$BENCH_TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	trap 'kill $AGENT_PID 2>/dev/null; wait' EXIT
	poll_until 30 test -s /run/nsagent/nsagent.pid || bench_fail "nsagent not ready: $(tail -5 "$BENCH_TMP/agent.log")"
	local -A conf=([ref]=$BENCH_TMP/ref.conflist [nsagent]=$NSAGENT_SOURCE_DIR/deploy/cni/10-nsagent.conflist)
	echo
	echo "== CNI ADD and DEL, N at once, each into its own namespace; $runs runs"
	cni_bench_header
	for n; do
		for ((r = 1; r <= runs; r++)); do
			for label in $( ((r % 2)) && echo ref nsagent || echo nsagent ref); do
				cni_bench_run "$label" "${conf[$label]}" "$n" "$r"
				[[ $label != nsagent ]] || no_attachments
			done
		done
		cni_report ref "$n"
		cni_report nsagent "$n"
	done
	echo
	echo "== nsagent / ref, medians"
	for n; do
		add=$(ratio "$(cni_median_us nsagent add "$n")" "$(cni_median_us ref add "$n")")
		del=$(ratio "$(cni_median_us nsagent del "$n")" "$(cni_median_us ref del "$n")")
		printf 'N=%-4s ADD %s (target <= 0.5: %s)   DEL %s\n' "$n" "$add" "$(verdict "$add" 0.5)" "$del"
		echo "RESULT cni ratio parallel=$n add=$add del=$del"
	done
	bench_stop_agent "$AGENT_PID" "$BENCH_TMP/agent.log"
	trap - EXIT
}

# ------------------------------------------------------------ outside

# bench_cni_plugin: NSAGENT_CNI, else the nsagent-cni of $NSAGENT's build
# directory (built when that is a CMake build directory, as build-bench/ is).
bench_cni_plugin() {
	local dir
	dir=$(dirname "$NSAGENT")
	if [[ -z ${NSAGENT_CNI:-} ]]; then
		NSAGENT_CNI=$dir/nsagent-cni
		if [[ -f $dir/CMakeCache.txt ]]; then
			cmake --build "$dir" -j2 --target nsagent-cni >/dev/null ||
				bench_fail "cannot build $NSAGENT_CNI"
		fi
	fi
	[[ -x $NSAGENT_CNI ]] || bench_fail "no nsagent-cni at $NSAGENT_CNI (build it, or set \$NSAGENT_CNI)"
	NSAGENT_CNI=$(readlink -f "$NSAGENT_CNI")
	export NSAGENT_CNI
}

main() {
	local runs=5 counts=()
	while (($#)); do
		case $1 in
		--in-host) shift; inside "$@"; return ;;
		--runs) runs=${2:?--runs needs a number}; shift 2 ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d'; return 0 ;;
		-*) bench_fail "unknown argument '$1'" ;;
		*) counts+=("$1"); shift ;;
		esac
	done
	((${#counts[@]})) || counts=(1 50)
	[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1)) || bench_fail "--runs needs a positive number"
	local n
	for n in "${counts[@]}"; do
		[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 250)) || bench_fail "N must be 1..250, not '$n'"
	done
	[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] ||
		bench_fail "no reference plugins in /usr/lib/cni (install containernetworking-plugins)"
	bench_start bench_cni
	bench_cni_plugin
	lab up --hosts 1 --no-agent >/dev/null
	echo "bench_cni: $(nproc) CPUs, kernel $(uname -r), plugins $(dpkg-query -W -f '${Package} ${Version}' containernetworking-plugins 2>/dev/null)"
	echo "bench_cni: agent $NSAGENT ($(bench_agent_kind)), plugin $NSAGENT_CNI"
	bench_in_host host1 "$(readlink -f "$0")" "$runs" "${counts[@]}"
}

main "$@"
