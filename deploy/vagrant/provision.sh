#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Provisioning of one Vagrant VM (deploy/vagrant/Vagrantfile runs
# `provision.sh all NODE_IP PEER_IP SUBNET` as root), in steps that can
# also run alone:
#
#   deps                            Debian packages to build (deploy/deps.sh)
#   build                           cmake + cpack -G DEB in $NSAGENT_BUILD
#   install                         apt-get install the .deb just built
#   configure NODE_IP PEER_IP SUBNET  write $NSAGENT_CONF_DIR/nsagent.conf
#   start                           systemctl enable --now nsagent, wait ready
#   check PEER_SUBNET               status, and NS1 pings the peer's NS1
#   all NODE_IP PEER_IP SUBNET      deps build install configure start
#
# Environment: NSAGENT_SRC (the repository, default: two levels up from
# this script), NSAGENT_BUILD (default /var/tmp/nsagent-build),
# NSAGENT_CONF_DIR (default /etc/nsagent), NSAGENT (the binary for check,
# default nsagent from PATH).
set -euo pipefail

SRC=${NSAGENT_SRC:-$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)}
BUILD=${NSAGENT_BUILD:-/var/tmp/nsagent-build}
CONF_DIR=${NSAGENT_CONF_DIR:-/etc/nsagent}
NSAGENT_BIN=${NSAGENT:-nsagent}

say() { echo "provision: $*" >&2; }
die() {
	say "$*"
	exit 1
}

valid_ip() { [[ $1 =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]]; }
valid_prefix() { [[ $1 =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$ ]]; }

step_deps() {
	"$SRC/deploy/deps.sh"
}

step_build() {
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSAGENT_TESTS=OFF \
		-DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	cmake --build "$BUILD" -j"$(nproc)"
	rm -f "$BUILD"/nsagent_*.deb
	(cd "$BUILD" && cpack -G DEB >/dev/null)
}

step_install() {
	local debs=("$BUILD"/nsagent_*.deb)
	[[ -f ${debs[0]} ]] || die "no package in $BUILD (run the build step)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[0]}" >/dev/null
}

# The seed recipe's node: its address, the other node as peer, its subnet.
step_configure() {
	local node_ip=${1:?configure needs NODE_IP PEER_IP SUBNET} peer_ip=${2:?} subnet=${3:?}
	valid_ip "$node_ip" || die "'$node_ip' is not an IPv4 address"
	valid_ip "$peer_ip" || die "'$peer_ip' is not an IPv4 address"
	valid_prefix "$subnet" || die "'$subnet' is not a prefix"
	mkdir -p "$CONF_DIR"
	cat >"$CONF_DIR/nsagent.conf.tmp" <<CONF
# Written by deploy/vagrant/provision.sh; see nsagent(8).
[nsagent]
peer = $peer_ip
node-ip = $node_ip
subnet = $subnet
namespaces = NS1,NS2
metrics = 127.0.0.1:9470
CONF
	mv "$CONF_DIR/nsagent.conf.tmp" "$CONF_DIR/nsagent.conf"
	# Refuse to start on a config the agent itself rejects.
	"$NSAGENT_BIN" check-config --config "$CONF_DIR/nsagent.conf" >/dev/null
}

step_start() {
	systemctl daemon-reload
	systemctl enable nsagent >/dev/null 2>&1
	systemctl restart nsagent
	local deadline=$((SECONDS + 60))
	until "$NSAGENT_BIN" status >/dev/null 2>&1; do
		((SECONDS < deadline)) || {
			journalctl -u nsagent -n 30 --no-pager >&2 || true
			die "nsagent is not healthy after 60 s"
		}
		sleep 1
	done
}

# NS1 of this node reaches NS1 of the peer (the seed's test, step 12).
step_check() {
	local peer_subnet=${1:?check needs the subnet of the peer} target
	valid_prefix "$peer_subnet" || die "'$peer_subnet' is not a prefix"
	target=${peer_subnet%.*/*}.2
	"$NSAGENT_BIN" status
	local deadline=$((SECONDS + 60))
	until ip netns exec NS1 ping -c 1 -W 1 "$target" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "NS1 cannot reach the peer's NS1 ($target)"
		sleep 1
	done
	ip netns exec NS1 ping -c 3 "$target"
}

main() {
	local step=${1:-}
	(($#)) && shift
	case $step in
	deps | build | install | start) "step_$step" ;;
	configure) step_configure "$@" ;;
	check) step_check "$@" ;;
	all)
		(($# == 3)) || die "usage: provision.sh all NODE_IP PEER_IP SUBNET"
		step_deps
		step_build
		step_install
		step_configure "$@"
		step_start
		say "nsagent runs on $1 with peer $2; check with: sudo nsagent status"
		;;
	*) die "usage: provision.sh deps|build|install|configure|start|check|all ..." ;;
	esac
}

main "$@"
