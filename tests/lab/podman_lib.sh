# SPDX-License-Identifier: GPL-2.0-or-later
# tests/lab/podman_lib.sh — podman as a real CNI client on lab hosts
# (sourced after lib.sh).
#
# DOC: The CNI plugin is proven by the runtime that calls it, not by a
# hand-written caller: podman (Debian 12: 4.3.1, CNI backend, runc) runs on a
# simulated host and attaches its containers through the plugins named in a
# conflist. Each host gets podman state of its own, inside its own mount
# namespace, so two hosts run podman side by side like two machines and
# nothing of the machine's podman (/etc/cni, /etc/containers,
# /var/lib/containers, /var/lib/cni, /dev/shm) is read or changed.
#
# Usage:
#
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/podman_lib.sh"
#   lab_init
#   lab up --hosts 2                      # or --no-agent
#   podman_setup host1 my.conflist        # copied to host1's /etc/cni/net.d
#   ln -s "$NSAGENT_BUILD_DIR/nsagent-cni" "$PODMAN_CNI_BIN/nsagent"
#   rootfs=$(podman_rootfs)               # busybox, a fresh temp dir
#   pod host1 run -d --name web --rootfs "$rootfs" httpd -f -p 80 -h /www
#   ip=$(podman_ip host1 web)
#   pod host1 rm -f -t 0 web
#
# Functions:
#   podman_setup HOST CONFLIST   prepare HOST (once per host); the network
#                                named in CONFLIST becomes podman's default,
#                                so `pod HOST run` attaches to it unless told
#                                otherwise (--network NAME)
#   pod HOST ARGS...             podman ARGS in HOST's network and mount
#                                namespaces, with HOST's configuration. For
#                                `run` and `create` it adds --cgroup-parent
#                                (the host's own cgroup, see below)
#   podman_rootfs [DIR] [APPLET...]
#                                a root file system for `run --rootfs`: static
#                                busybox and links for the default applets
#                                (PODMAN_APPLETS) plus APPLETs; prints DIR.
#                                Without DIR (or with ""), a new temp dir that
#                                goes at exit; a DIR given is the caller's to
#                                remove (not under /run: hosts cannot see it).
#                                podman adds mount points (etc/hosts...) to it
#   podman_ip HOST CONTAINER     the container's IPv4 address(es), one a line;
#                                fails when it has none
#   PODMAN_CNI_BIN               the plugin directory podman searches first
#                                (then /usr/lib/cni, for loopback & co.);
#                                the test puts its plugins there
#   podman_host_dir HOST         HOST's configuration, seen from outside:
#                                containers/ is HOST's /etc/containers, net.d/
#                                its /etc/cni/net.d (add conflists there)
#
# What a prepared host has, inside its mount namespace:
#   /etc/containers      bound from podman_host_dir/containers:
#                        containers.conf (network_backend "cni", runtime
#                        "runc", cgroup_manager "cgroupfs", default_ulimits
#                        nofile and nproc, pull_policy "never",
#                        events to a file), storage.conf (driver "vfs"),
#                        policy.json rejecting every image, an empty
#                        registries.conf. podman reads it by default too, so
#                        conmon's cleanup call (a podman of its own) sees the
#                        same configuration as `pod`.
#   /etc/cni/net.d       bound from podman_host_dir/net.d
#   /var/lib             an overlay over the machine's /var/lib whose upper
#                        layer is in the host's /run: /var/lib/cni (CNI cache,
#                        host-local leases) and /var/lib/containers (storage)
#                        exist only in the host, and the mounts that were
#                        under /var/lib (the agent's state) are carried over
#   /run/containers, /run/libpod
#                        in the host's own /run (a tmpfs, deploy/lab)
#   /dev/shm             a tmpfs of its own: podman's lock segment
#                        (libpod_lock) is per podman instance
#   /sys/fs/cgroup       the machine's cgroup hierarchies mounted again (the
#                        host's fresh sysfs hides them, and runc needs them)
#
# Cgroups: runc (unlike crun) cannot run a container without cgroups
# (`--cgroups=disabled` fails: "runc is not compatible with NoCgroups"), so
# every container gets cgroups, under one parent per host,
# /nsagent-lab.LAB.HOST, and nothing lands in podman's shared default
# (/libpod_parent). `deploy/lab down` removes those trees.
#
# At exit (lab_at_exit, before the lab goes): every container of every
# prepared host is removed (`podman rm -a -f`, which runs the plugins' DEL)
# and the temp dir goes. Everything else lives in the hosts' namespaces and
# cgroups named after the lab, and `lab down` removes it (it kills what runs
# there, conmon included, and removes the cgroups), also when podman failed.
#
# Speed: `pod HOST run -d` takes 0.5-0.9 s on this 2-CPU machine under load
# (podman's own start-up is 0.25 s of it: `pod HOST ps`; the reference
# plugins about 0.15 s); podman_setup about 2 s. Keep the number of
# containers a test starts small, and start them in parallel (`pod ... &`,
# then `wait`): podman's locks make that safe.
# shellcheck shell=bash

# Applets podman_rootfs links by default.
PODMAN_APPLETS=(sh cat echo hostname httpd ip kill ls mkdir nc ping ps sleep true wget)

# Per-host ulimits inside containers (explicit: podman would otherwise pass
# on whatever the caller's limits are).
PODMAN_NOFILE=4096:4096
PODMAN_NPROC=4096:4096

# Everything the library makes outside the hosts lives here. Not under /run:
# a host's /run is its own tmpfs, and the hosts must see this directory.
PODMAN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/nsagent-podman.XXXXXX") ||
	fail "podman_lib: cannot make a temp dir in ${TMPDIR:-/tmp}"
PODMAN_CNI_BIN=$PODMAN_DIR/cni-bin
mkdir "$PODMAN_CNI_BIN"
PODMAN_HOSTS=()
lab_at_exit podman_cleanup

podman_host_dir() { echo "$PODMAN_DIR/hosts/$1"; }

# The cgroup parent of HOST's containers (cgroupfs path).
podman_cgroup() { echo "/nsagent-lab.$NSAGENT_LAB.$1"; }

# What runs inside the host (bash -c, in its network and mount namespaces):
# $1 = the host's configuration dir (podman_host_dir). Reads the machine's
# cgroup mounts ("TARGET FSTYPE OPTIONS" lines, findmnt) on stdin.
# shellcheck disable=SC2016
PODMAN_HOST_INIT='
set -euo pipefail
conf=$1 p=/run/podman-lab
if [[ -e $p ]]; then
	echo "podman is already set up in this host ($p exists)" >&2
	exit 1
fi
for d in /etc/cni/net.d /etc/containers; do
	[[ -d $d ]] || { echo "no $d on this machine to mount over (install podman)" >&2; exit 1; }
done
mkdir -p "$p/varlib/upper" "$p/varlib/work" "$p/varlib/merged"

# /var/lib: the machine'"'"'s, made writable by an overlay whose writes stay
# in this host. It is built aside with the mounts that were under /var/lib
# (the agent'"'"'s state dir) and moved in at once, so a running agent never
# sees its state dir missing.
mount -t overlay overlay \
	-o "lowerdir=/var/lib,upperdir=$p/varlib/upper,workdir=$p/varlib/work" "$p/varlib/merged"
done_=""
while read -r m; do
	case $m in /var/lib/*) ;; *) continue ;; esac
	# rbind carries a mount'"'"'s own submounts: skip those.
	for d in $done_; do case $m in "$d" | "$d"/*) continue 2 ;; esac; done
	mount --rbind "$m" "$p/varlib/merged/${m#/var/lib/}"
	done_="$done_ $m"
done < <(findmnt -rn -o TARGET)
mount --move "$p/varlib/merged" /var/lib
mkdir -p /var/lib/cni /var/lib/containers /run/containers /run/libpod

mount --bind "$conf/net.d" /etc/cni/net.d
mount --bind "$conf/containers" /etc/containers
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm

# The cgroup hierarchies, as the machine has them (v1 controllers are
# mounted again by name, which joins the existing hierarchy; cgroup2 is the
# one unified tree).
while read -r target fstype options; do
	mkdir -p "$target"
	mount -t "$fstype" -o "$options" "$fstype" "$target" ||
		{ echo "cannot mount $fstype ($options) on $target" >&2; exit 1; }
done
[[ -n $(find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -name cgroup.procs -print -quit) ]] ||
	{ echo "no cgroup hierarchy under /sys/fs/cgroup after mounting" >&2; exit 1; }
'

# podman_config HOST NETWORK: writes HOST's /etc/containers files.
podman_config() {
	local host=$1 network=$2 dir
	dir=$(podman_host_dir "$host")/containers
	mkdir -p "$dir"
	cat >"$dir/containers.conf" <<EOF
# Written by tests/lab/podman_lib.sh for lab host $host.
[containers]
default_ulimits = ["nofile=$PODMAN_NOFILE", "nproc=$PODMAN_NPROC"]
log_driver = "k8s-file"

[network]
network_backend = "cni"
cni_plugin_dirs = ["$PODMAN_CNI_BIN", "/usr/lib/cni"]
network_config_dir = "/etc/cni/net.d"
default_network = "$network"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
pull_policy = "never"
events_logger = "file"
events_logfile_path = "/run/libpod/events.log"
tmp_dir = "/run/libpod"
EOF
	cat >"$dir/storage.conf" <<'EOF'
[storage]
driver = "vfs"
graphroot = "/var/lib/containers/storage"
runroot = "/run/containers/storage"
EOF
	echo '{ "default": [{ "type": "reject" }] }' >"$dir/policy.json"
	: >"$dir/registries.conf"
}

# podman_setup HOST CONFLIST: see the header.
podman_setup() {
	local host=$1 conflist=$2 hd network
	[[ $# -eq 2 ]] || fail "usage: podman_setup HOST CONFLIST"
	[[ -f $conflist ]] || fail "podman_setup $host: no conflist file '$conflist'"
	network=$(jq -er '.name | strings' "$conflist") ||
		fail "podman_setup $host: $conflist is not a conflist with a \"name\""
	hd=$(podman_host_dir "$host")
	[[ ! -e $hd ]] || fail "podman_setup $host: already set up"
	mkdir -p "$hd/net.d"
	cp "$conflist" "$hd/net.d/"
	podman_config "$host" "$network"
	PODMAN_HOSTS+=("$host")
	findmnt -rn -R -o TARGET,FSTYPE,OPTIONS /sys/fs/cgroup |
		lab exec "$host" -- bash -c "$PODMAN_HOST_INIT" "podman-init-$host" "$hd" ||
		fail "podman_setup $host: preparing the host failed (see above)"
	# One run proves that podman reads the conflist through its CNI backend
	# (`podman info` would prove more but takes 2 s).
	pod "$host" network ls --format '{{.Name}} {{.Driver}}' >"$hd/networks" 2>&1 ||
		fail "podman_setup $host: podman network ls failed: $(cat "$hd/networks")"
	awk -v n="$network" '$1 == n {found = 1} END {exit !found}' "$hd/networks" ||
		fail "podman_setup $host: podman does not list network '$network' of $conflist: $(cat "$hd/networks")"
}

# pod HOST ARGS...: see the header.
pod() {
	local host=$1 hd
	shift
	hd=$(podman_host_dir "$host")
	[[ -d $hd ]] || fail "pod $host: podman_setup $host first"
	local args=("$@") at=0
	[[ ${args[0]:-} != container ]] || at=1
	case ${args[at]:-} in
	run | create)
		args=("${args[@]:0:at+1}" "--cgroup-parent=$(podman_cgroup "$host")" "${args[@]:at+1}")
		;;
	esac
	lab exec "$host" -- env CONTAINERS_CONF=/etc/containers/containers.conf \
		CONTAINERS_STORAGE_CONF=/etc/containers/storage.conf \
		CONTAINERS_REGISTRIES_CONF=/etc/containers/registries.conf podman "${args[@]}"
}

# podman_ip HOST CONTAINER: see the header.
podman_ip() {
	pod "$1" inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{"\n"}}{{end}}' "$2" |
		grep -v '^$'
}

# podman_rootfs [DIR] [APPLET...]: see the header.
podman_rootfs() {
	local dir=${1:-} busybox=/bin/busybox applet
	(($# == 0)) || shift
	if [[ -z $dir ]]; then
		dir=$(mktemp -d "$PODMAN_DIR/rootfs.XXXXXX") || fail "podman_rootfs: cannot make a temp dir"
	else
		[[ ! -e $dir ]] || fail "podman_rootfs: $dir exists (give a new directory)"
		case $(readlink -m "$dir") in
		/run | /run/*) fail "podman_rootfs: $dir is under /run, which lab hosts do not see" ;;
		esac
		mkdir -p "$dir" || fail "podman_rootfs: cannot make $dir"
	fi
	[[ -x $busybox ]] || fail "podman_rootfs: no $busybox (install busybox-static)"
	# podman runs the container's files, not the machine's: a dynamic
	# busybox would need the machine's libc inside the rootfs.
	if ldd "$busybox" >/dev/null 2>&1; then
		fail "podman_rootfs: $busybox is dynamically linked (install busybox-static)"
	fi
	mkdir -p "$dir/bin" "$dir/dev" "$dir/etc" "$dir/proc" "$dir/sys" "$dir/tmp" "$dir/run"
	cp "$busybox" "$dir/bin/busybox"
	for applet in "${PODMAN_APPLETS[@]}" "$@"; do
		"$busybox" --list | grep_q -x -- "$applet" ||
			fail "podman_rootfs: busybox has no applet '$applet'"
		ln -sf busybox "$dir/bin/$applet"
	done
	echo "$dir"
}

# Runs at exit: see the header.
podman_cleanup() {
	local host out
	for host in "${PODMAN_HOSTS[@]}"; do
		out=$(pod "$host" rm -a -f -t 0 2>&1) ||
			echo "podman_lib: $host: podman rm -a -f failed: $out" >&2
	done
	# What podman left (it failed, or a test killed conmon) goes with `lab
	# down`: processes, cgroups, mounts.
	rm -rf "$PODMAN_DIR"
}
