#!/bin/bash
# `cpack -G DEB` builds a .deb with the binary, the unit, the rt_protos
# entry, the example config and nsagent(8); it installs into a throwaway
# root with dpkg --root (no maintainer scripts exist, so nothing runs
# against this machine), the installed binary runs, and removing and then
# purging it leaves nothing behind. Nothing outside $tmp is touched.
set -u

NSAGENT_BUILD_DIR=${NSAGENT_BUILD_DIR:?NSAGENT_BUILD_DIR must name the build directory}
for tool in cpack dpkg dpkg-deb; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 0; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsagent-deb.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

(cd "$NSAGENT_BUILD_DIR" && cpack -G DEB -B "$tmp/out" --config CPackConfig.cmake) \
	>"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB"; }
debs=("$tmp"/out/nsagent_*.deb)
[ -f "${debs[0]}" ] || fail "no nsagent_*.deb in $tmp/out"
deb=${debs[0]}

# Contents and control data.
dpkg-deb -c "$deb" | awk '{print $NF}' >"$tmp/contents"
for path in ./usr/sbin/nsagent ./usr/lib/systemd/system/nsagent.service \
	./etc/iproute2/rt_protos.d/nsagent.conf ./usr/share/doc/nsagent/examples/nsagent.conf \
	./usr/share/man/man8/nsagent.8.gz; do
	grep -qxF "$path" "$tmp/contents" || fail "$path is not in the package: $(cat "$tmp/contents")"
done
[ "$(dpkg-deb -f "$deb" Package)" = nsagent ] || fail "package name"
dpkg-deb -f "$deb" Depends | grep -q 'libevent' || fail "Depends lacks the shared libraries"
dpkg-deb -e "$deb" "$tmp/control"
grep -qxF /etc/iproute2/rt_protos.d/nsagent.conf "$tmp/control/conffiles" || fail "conffiles"
for script in preinst postinst prerm postrm; do
	[ ! -e "$tmp/control/$script" ] || fail "unexpected maintainer script $script"
done

# Install into a throwaway root with its own dpkg database.
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
dpkg_root() {
	dpkg --root="$root" --force-not-root --force-script-chrootless --force-depends \
		--log=/dev/null "$@"
}
dpkg_root -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i"; }
dpkg_root -s nsagent | grep -qx 'Status: install ok installed' || fail "not installed"
"$root/usr/sbin/nsagent" version | grep -qE '^nsagent [0-9]+\.[0-9]+\.[0-9]+$' ||
	fail "the installed binary does not run"
grep -qE '^78[[:space:]]+nsagent$' "$root/etc/iproute2/rt_protos.d/nsagent.conf" ||
	fail "rt_protos entry"
zcat "$root/usr/share/man/man8/nsagent.8.gz" | grep -q '^\.TH NSAGENT 8' || fail "man page"

# Remove keeps the conffile, purge removes it; then nothing is left.
dpkg_root -r nsagent >>"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -r"; }
[ ! -e "$root/usr/sbin/nsagent" ] || fail "dpkg -r left the binary"
[ -e "$root/etc/iproute2/rt_protos.d/nsagent.conf" ] || fail "dpkg -r removed a conffile"
dpkg_root -P nsagent >>"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -P"; }
left=$(cd "$root" && find . -mindepth 1 -not -path './var/lib/dpkg*' \( -type f -o -type l \) -print)
[ -z "$left" ] || fail "files left after purge: $left"
dpkg_root -s nsagent >/dev/null 2>&1 && fail "still known to dpkg after purge"
echo "test_deb: ok"
