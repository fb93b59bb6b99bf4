#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs the Debian 12 packages nsagent needs to build, test and run,
# and only those that are missing: `apt-get update` runs once, and only when
# something has to be installed. Silent when everything is present.
#
# Usage: deploy/deps.sh            (as root)
#        deploy/deps.sh --list     print the package list and exit
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake pkg-config
	libevent-dev libnl-3-dev
	libprotobuf-c-dev protobuf-c-compiler
	libnftnl-dev libmnl-dev libinih-dev libjson-c-dev libssl-dev
	# tests: unit tests, sanitizers, fuzzing, leak checks, traffic, TLS interop (openssl CLI)
	libcmocka-dev clang libclang-rt-14-dev valgrind iperf3 socat curl jq openssl
	# tests: promtool checks the metrics exposition
	prometheus
	# tests: --routing bgp against the real BIRD, only ever run inside lab
	# namespaces (tests/lab/test_bgp_six.sh, tests/unit/test_bird.c: bird -p)
	bird2
	# tests: podman as the CNI plugin's client (tests/lab/podman_lib.sh):
	# runc, the reference plugins (loopback, bridge, host-local), and a
	# static busybox for the containers' root file system
	podman runc containernetworking-plugins busybox-static
	# static analysis (tests/lint.sh)
	cppcheck clang-tidy shellcheck
	# the ecosystem's own checkers: the .deb (lintian, hardening-check from
	# devscripts), the man page (mandoc), the unit (systemd-analyze), the
	# bash completion (bash-completion's helpers)
	lintian devscripts mandoc systemd bash-completion
	# run: the lab and the agent's neighbours
	iproute2 nftables iputils-ping util-linux procps
	# tests: the soak's memory and fd plot (tests/soak/run)
	gnuplot-nox
	# WireGuard (issue 19): the userspace implementation the agent runs
	# where the kernel has no module, wg(8) as the tests' independent
	# client, and tcpdump for the tests' captures on the lab's switch
	wireguard-go wireguard-tools tcpdump
)

if [[ ${1:-} == --list ]]; then
	printf '%s\n' "${PACKAGES[@]}"
	exit 0
fi

# One dpkg-query for the whole list: "ii " = wanted install, installed;
# anything else (absent, half-configured, removed with config left) needs apt.
declare -A installed=()
while read -r pkg status; do
	[[ $status == ii ]] && installed[${pkg%%:*}]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for pkg in "${PACKAGES[@]}"; do
	[[ -n ${installed[$pkg]:-} ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

if ((EUID != 0)); then
	echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

# bird2 and prometheus are test tools here (the tests run them inside lab
# namespaces only), but their packages start a daemon in this host as a
# service: a routing daemon and a web server the operator did not ask for.
# Those this run installed are stopped and disabled; one that was already
# there is the operator's and left as it is.
if [[ -d /run/systemd/system ]]; then
	for pkg in "${missing[@]}"; do
		case $pkg in
		bird2) systemctl disable --now bird.service >&2 || true ;;
		prometheus) systemctl disable --now prometheus.service >&2 || true ;;
		esac
	done
fi
