# SPDX-License-Identifier: GPL-2.0-or-later
# deploy/lab-podman.sh — podman as a real CNI client on lab hosts (sourced
# by deploy/lab for `up --containers` and by tests/lab/podman_lib.sh).
#
# DOC: The CNI plugin is proven by the runtime that calls it, not by a
# hand-written caller: podman (Debian 12: 4.3.1, CNI backend, runc) runs on a
# simulated host and attaches its containers through the plugins named in a
# conflist. Each host gets podman state of its own, inside its own mount
# namespace, so two hosts run podman side by side like two machines and
# nothing of the machine's podman (/etc/cni, /etc/containers,
# /var/lib/containers, /var/lib/cni, /dev/shm) is read or changed. This file
# holds only that logic; what surrounds it differs between its two users (a
# test's temp dir removed at exit, a lab's directory removed by `down`), so
# the includer provides, before sourcing it:
#   PODMAN_DIR             an existing directory for everything made outside
#                          the hosts (configs, plugins, root file systems).
#                          Not under /run: a host's /run is its own tmpfs,
#                          and the hosts must see this directory
#   podman_lab             prints the lab's name (cgroups are named after it)
#   podman_on HOST CMD...  run CMD in HOST's network and mount namespaces
#   podman_die MESSAGE     report MESSAGE and exit
#
# Functions:
#   podman_setup HOST CONFLIST   prepare HOST (once per host); the network
#                                named in CONFLIST becomes podman's default,
#                                so `pod HOST run` attaches to it unless told
#                                otherwise (--network NAME). Hosts can be set
#                                up in parallel (`podman_setup ... &`)
#   pod HOST ARGS...             podman ARGS in HOST's network and mount
#                                namespaces, with HOST's configuration. For
#                                `run` and `create` it adds --cgroup-parent
#                                (the host's own cgroup, see below)
#   podman_rootfs [DIR] [APPLET...]
#                                a root file system for `run --rootfs`: static
#                                busybox and links for the default applets
#                                (PODMAN_APPLETS) plus APPLETs; prints DIR.
#                                Without DIR (or with ""), a new directory in
#                                PODMAN_DIR; a DIR given is the caller's to
#                                remove (not under /run: hosts cannot see it).
#                                podman adds mount points (etc/hosts...) to it
#   podman_web DIR               adds to a podman_rootfs a web server's files:
#                                /www/cgi-bin/addr answers "peer=ADDRESS",
#                                the address the request came from (httpd's
#                                REMOTE_ADDR): `httpd -f -p 0.0.0.0:80 -h /www`
#   PODMAN_HTTP_GET              a sh script asking such a server ($0, its
#                                address) for /cgi-bin/addr; prints ADDRESS
#                                (busybox nc: its wget crashes in this build)
#   podman_ip HOST CONTAINER     the container's IPv4 address(es), one a line;
#                                fails when it has none
#   podman_hosts                 the hosts set up so far, one a line
#   podman_rm_all HOST           removes every container of HOST (`podman rm
#                                -a -f`, which runs the plugins' DEL)
#   PODMAN_CNI_BIN               the plugin directory podman searches first
#                                (then /usr/lib/cni, for loopback & co.);
#                                the caller puts its plugins there
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
# (/libpod_parent). `deploy/lab down` removes those trees, and with the
# lab's namespaces everything podman left in the hosts (processes, conmon
# included, mounts), also when podman failed.
#
# Speed: `pod HOST run -d` takes 0.5-0.9 s on this 2-CPU machine under load
# (podman's own start-up is 0.25 s of it: `pod HOST ps`; the reference
# plugins about 0.15 s); podman_setup about 2 s. Keep the number of
# containers a test starts small, and start them in parallel (`pod ... &`,
# then `wait`): podman's locks make that safe.
# shellcheck shell=bash

# Applets podman_rootfs links by default.
PODMAN_APPLETS=(sh cat echo hostname httpd ip kill ls mkdir nc ping ps sed sleep true wget)

# Per-host ulimits inside containers (explicit: podman would otherwise pass
# on whatever the caller's limits are).
PODMAN_NOFILE=4096:4096
PODMAN_NPROC=4096:4096

: "${PODMAN_DIR:?the includer sets PODMAN_DIR}"
[[ -d $PODMAN_DIR ]] || podman_die "lab-podman: no directory $PODMAN_DIR"
PODMAN_CNI_BIN=$PODMAN_DIR/cni-bin
mkdir -p "$PODMAN_CNI_BIN"

podman_host_dir() { echo "$PODMAN_DIR/hosts/$1"; }

# The cgroup parent of HOST's containers (cgroupfs path).
podman_cgroup() { echo "/nsagent-lab.$(podman_lab).$1"; }

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
# Written by deploy/lab-podman.sh for lab host $host.
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
	[[ $# -eq 2 ]] || podman_die "usage: podman_setup HOST CONFLIST"
	[[ -f $conflist ]] || podman_die "podman_setup $host: no conflist file '$conflist'"
	network=$(jq -er '.name | strings' "$conflist") ||
		podman_die "podman_setup $host: $conflist is not a conflist with a \"name\""
	hd=$(podman_host_dir "$host")
	# The directory is the record that HOST is set up (podman_hosts), so
	# that a setup run in the background counts too.
	mkdir -p "$(dirname "$hd")"
	mkdir "$hd" 2>/dev/null || podman_die "podman_setup $host: already set up"
	mkdir "$hd/net.d"
	cp "$conflist" "$hd/net.d/"
	podman_config "$host" "$network"
	findmnt -rn -R -o TARGET,FSTYPE,OPTIONS /sys/fs/cgroup |
		podman_on "$host" bash -c "$PODMAN_HOST_INIT" "podman-init-$host" "$hd" ||
		podman_die "podman_setup $host: preparing the host failed (see above)"
	# One run proves that podman reads the conflist through its CNI backend
	# (`podman info` would prove more but takes 2 s).
	pod "$host" network ls --format '{{.Name}} {{.Driver}}' >"$hd/networks" 2>&1 ||
		podman_die "podman_setup $host: podman network ls failed: $(cat "$hd/networks")"
	awk -v n="$network" '$1 == n {found = 1} END {exit !found}' "$hd/networks" ||
		podman_die "podman_setup $host: podman does not list network '$network' of $conflist: $(cat "$hd/networks")"
}

# pod HOST ARGS...: see the header.
pod() {
	local host=$1 hd
	shift
	hd=$(podman_host_dir "$host")
	[[ -d $hd ]] || podman_die "pod $host: podman_setup $host first"
	local args=("$@") at=0
	[[ ${args[0]:-} != container ]] || at=1
	case ${args[at]:-} in
	run | create)
		args=("${args[@]:0:at+1}" "--cgroup-parent=$(podman_cgroup "$host")" "${args[@]:at+1}")
		;;
	esac
	podman_on "$host" env CONTAINERS_CONF=/etc/containers/containers.conf \
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
	local dir=${1:-} busybox=/bin/busybox applet applets
	(($# == 0)) || shift
	if [[ -z $dir ]]; then
		dir=$(mktemp -d "$PODMAN_DIR/rootfs.XXXXXX") || podman_die "podman_rootfs: cannot make a temp dir"
	else
		[[ ! -e $dir ]] || podman_die "podman_rootfs: $dir exists (give a new directory)"
		case $(readlink -m "$dir") in
		/run | /run/*) podman_die "podman_rootfs: $dir is under /run, which lab hosts do not see" ;;
		esac
		mkdir -p "$dir" || podman_die "podman_rootfs: cannot make $dir"
	fi
	[[ -x $busybox ]] || podman_die "podman_rootfs: no $busybox (install busybox-static)"
	# podman runs the container's files, not the machine's: a dynamic
	# busybox would need the machine's libc inside the rootfs.
	if ldd "$busybox" >/dev/null 2>&1; then
		podman_die "podman_rootfs: $busybox is dynamically linked (install busybox-static)"
	fi
	mkdir -p "$dir/bin" "$dir/dev" "$dir/etc" "$dir/proc" "$dir/sys" "$dir/tmp" "$dir/run"
	cp "$busybox" "$dir/bin/busybox"
	applets=$'\n'$("$busybox" --list)$'\n'
	for applet in "${PODMAN_APPLETS[@]}" "$@"; do
		[[ $applets == *$'\n'"$applet"$'\n'* ]] ||
			podman_die "podman_rootfs: busybox has no applet '$applet'"
		ln -sf busybox "$dir/bin/$applet"
	done
	echo "$dir"
}

# podman_web DIR: see the header.
podman_web() {
	mkdir -p "$1/www/cgi-bin" || podman_die "podman_web: cannot make $1/www/cgi-bin"
	cat >"$1/www/cgi-bin/addr" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "peer=$REMOTE_ADDR"
CGI
	chmod 0755 "$1/www/cgi-bin/addr"
}

# See the header; sed and nc are PODMAN_APPLETS.
# shellcheck disable=SC2016,SC2034 # $0 is the script's; the includer's to use
PODMAN_HTTP_GET='printf "GET /cgi-bin/addr HTTP/1.0\r\n\r\n" | nc -w 5 "$0" 80 | sed -n "s/^peer=//p"'

# podman_hosts: see the header.
podman_hosts() {
	local d
	for d in "$PODMAN_DIR"/hosts/*/; do
		[[ -d $d ]] && basename "$d"
	done
	return 0
}

# podman_rm_all HOST: see the header.
podman_rm_all() {
	local out
	out=$(pod "$1" rm -a -f -t 0 2>&1) || {
		echo "lab-podman: $1: podman rm -a -f failed: $out" >&2
		return 1
	}
}
