# SPDX-License-Identifier: GPL-2.0-or-later
# tests/lab/podman_lib.sh — podman as a real CNI client on lab hosts, for
# tests (sourced after lib.sh).
#
# DOC: The logic lives in deploy/lab-podman.sh, which `deploy/lab up
# --containers` uses too (read its header: what a prepared host has, the
# functions, cgroups, speed). This file gives it what a test needs around
# it: a temp dir for the configs, plugins and root file systems, `lab exec`
# to enter a host, `fail`, and cleanup at exit.
#
# Usage:
#
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/podman_lib.sh"
#   lab_init
#   lab up --hosts 2                      # or --no-agent
#   podman_setup host1 my.conflist        # copied to host1's /etc/cni/net.d
#   ln -s "$NSAGENT_CNI" "$PODMAN_CNI_BIN/nsagent"
#   rootfs=$(podman_rootfs)               # busybox, a fresh temp dir
#   pod host1 run -d --name web --rootfs "$rootfs" httpd -f -p 80 -h /www
#   ip=$(podman_ip host1 web)
#   pod host1 rm -f -t 0 web
#
# At exit (lab_at_exit, before the lab goes): every container of every
# prepared host is removed (`podman rm -a -f`, which runs the plugins' DEL)
# and the temp dir goes. Everything else lives in the hosts' namespaces and
# cgroups named after the lab, and `lab down` removes it (it kills what runs
# there, conmon included, and removes the cgroups), also when podman failed.
# shellcheck shell=bash

podman_on() {
	local host=$1
	shift
	lab exec "$host" -- "$@"
}
podman_die() { fail "$*"; }
podman_lab() { echo "${NSAGENT_LAB:?podman_lib.sh: lab_init first}"; }

PODMAN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/nsagent-podman.XXXXXX") ||
	fail "podman_lib: cannot make a temp dir in ${TMPDIR:-/tmp}"
# shellcheck source=../../deploy/lab-podman.sh
source "$NSAGENT_SOURCE_DIR/deploy/lab-podman.sh"
lab_at_exit podman_cleanup

# Runs at exit: see the header. What podman left (it failed, or a test
# killed conmon) goes with `lab down`: processes, cgroups, mounts.
podman_cleanup() {
	local host
	while read -r host; do
		podman_rm_all "$host" || true
	done < <(podman_hosts)
	rm -rf "$PODMAN_DIR"
}
