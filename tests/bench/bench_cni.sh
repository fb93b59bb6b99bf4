#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# CNI plugin latency: N ADDs at once, each into a fresh network namespace
# of its own, then N DELs at once, the plugins called the way a runtime
# calls them (cni_lib.sh), in one lab host. Per plugin and N: median and
# 90th percentile of one call's time (ms), over N calls times R runs.
#
#   bench_cni.sh [--runs R] [N...]            (default R: 5, N: 1 50)
#
# Plugins:
#   ref   the reference pair a podman host uses: bridge (cnib0, gateway
#         10.88.0.1) with host-local addresses from 10.88.0.0/16, its
#         leases in the benchmark's temp dir
# Every call must succeed with an address of its own and DEL must remove
# the interface; the figures themselves are never judged.
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

inside() {
	local runs=$1 n
	shift
	mkdir -p "$BENCH_TMP/cni-bin"
	bench_sleep_init
	conflist_ref "$BENCH_TMP/ref.conflist"
	echo
	echo "== CNI ADD and DEL, N at once, each into its own namespace; $runs runs"
	cni_bench_header
	for n; do
		cni_bench ref "$BENCH_TMP/ref.conflist" "$n" "$runs"
	done
}

# ------------------------------------------------------------ outside

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
	lab up --hosts 1 --no-agent >/dev/null
	echo "bench_cni: $(nproc) CPUs, kernel $(uname -r), plugins $(dpkg-query -W -f '${Package} ${Version}' containernetworking-plugins 2>/dev/null)"
	bench_in_host host1 "$(readlink -f "$0")" "$runs" "${counts[@]}"
}

main "$@"
