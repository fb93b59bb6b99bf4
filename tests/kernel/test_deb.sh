#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The .deb as Debian's own tools judge it. A release build of the source
# tree (the flags a package is built with, not the sanitizer build) is
# packed with `cpack -G DEB`; then:
#   - lintian -I --pedantic reports nothing: no error or warning, and every
#     info or pedantic tag left is overridden in deploy/debian/lintian-overrides
#     with a comment saying why;
#   - hardening-check accepts the packaged binary (PIE, stack protector,
#     FORTIFY_SOURCE, RELRO, BIND_NOW), which is stripped;
#   - the package holds what an operator needs (binary, unit, man page,
#     bash completion, copyright, changelog), nftables is no dependency,
#     libnl-route is not linked;
#   - the maintainer scripts, run against a fake systemd in a private mount
#     namespace, only daemon-reload on install, stop on remove, and remove
#     /var/lib/nsagent on purge; nothing is enabled or started;
#   - dpkg installs it into a throwaway root, the binary runs, remove keeps
#     conffiles and state, purge leaves nothing.
# Nothing outside $tmp (and the private mount namespace) is touched.
set -u

NSAGENT_SOURCE_DIR=${NSAGENT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
for tool in cmake cpack dpkg dpkg-deb dpkg-parsechangelog lintian hardening-check unshare; do
	command -v "$tool" >/dev/null || {
		echo "FAIL: $tool is not installed (deploy/deps.sh installs it)"
		exit 1
	}
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsagent-deb.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

cmake -S "$NSAGENT_SOURCE_DIR" -B "$tmp/build" -DNSAGENT_TESTS=OFF >"$tmp/build.log" 2>&1 &&
	cmake --build "$tmp/build" -j2 >>"$tmp/build.log" 2>&1 ||
	{ tail -n 40 "$tmp/build.log" >&2; fail "the release build"; }
(cd "$tmp/build" && cpack -G DEB -B "$tmp/out" --config CPackConfig.cmake) \
	>"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB"; }
debs=("$tmp"/out/nsagent_*.deb)
[ -f "${debs[0]}" ] || fail "no nsagent_*.deb in $tmp/out"
deb=${debs[0]}

# lintian: any tag printed is a finding (overridden tags are not printed).
# It also says on stderr that it runs as root, which is no finding.
lintian -I --pedantic "$deb" >"$tmp/lintian.log" 2>&1
lintian_rc=$?
if grep -qE '^[A-Z]: ' "$tmp/lintian.log" || [ "$lintian_rc" -ne 0 ]; then
	cat "$tmp/lintian.log" >&2
	fail "lintian -I --pedantic (exit $lintian_rc) has findings; fix them or override with a reason"
fi
# Every override says why, in a comment right above it.
awk '/^#/ { why = 1; next } /^[^[:space:]]/ { if (!why) { print; bad = 1 } } { why = 0 } END { exit bad }' \
	"$NSAGENT_SOURCE_DIR/deploy/debian/lintian-overrides" >"$tmp/unjustified" ||
	fail "lintian overrides without a comment saying why: $(cat "$tmp/unjustified")"

# Contents and control data.
dpkg-deb -c "$deb" | awk '{print $NF}' >"$tmp/contents"
for path in ./usr/sbin/nsagent ./usr/lib/systemd/system/nsagent.service \
	./etc/iproute2/rt_protos.d/nsagent.conf ./usr/share/doc/nsagent/examples/nsagent.conf \
	./usr/share/man/man8/nsagent.8.gz ./usr/share/doc/nsagent/copyright \
	./usr/share/doc/nsagent/changelog.gz ./usr/share/bash-completion/completions/nsagent \
	./usr/lib/cni/nsagent ./etc/cni/net.d/10-nsagent.conflist; do
	grep -qxF "$path" "$tmp/contents" || fail "$path is not in the package: $(cat "$tmp/contents")"
done
[ "$(dpkg-deb -f "$deb" Package)" = nsagent ] || fail "package name"
depends=$(dpkg-deb -f "$deb" Depends)
grep -q 'libevent' <<<"$depends" || fail "Depends lacks the shared libraries: $depends"
grep -q 'nftables' <<<"$depends" && fail "nftables (the CLI) is a dependency: $depends"
grep -q 'libnl-route' <<<"$depends" && fail "libnl-route is a dependency: $depends"
dpkg-deb -f "$deb" Recommends | grep -q nftables || fail "nftables is not even recommended"
dpkg-deb -e "$deb" "$tmp/control"
for conffile in /etc/iproute2/rt_protos.d/nsagent.conf /etc/cni/net.d/10-nsagent.conflist; do
	grep -qxF "$conffile" "$tmp/control/conffiles" || fail "$conffile is not a conffile"
done
[ ! -e "$tmp/control/preinst" ] || fail "unexpected maintainer script preinst"
for script in postinst prerm postrm; do
	[ -x "$tmp/control/$script" ] || fail "no executable maintainer script $script"
done

# The changelog is Debian's format, for this version, signed by the maintainer.
dpkg-deb -x "$deb" "$tmp/x"
zcat "$tmp/x/usr/share/doc/nsagent/changelog.gz" >"$tmp/changelog"
version=$(dpkg-parsechangelog -l "$tmp/changelog" -S Version) || fail "dpkg-parsechangelog"
[ "$version" = "$(dpkg-deb -f "$deb" Version)" ] ||
	fail "changelog version $version, package version $(dpkg-deb -f "$deb" Version)"
[ "$(dpkg-parsechangelog -l "$tmp/changelog" -S Maintainer)" = "$(dpkg-deb -f "$deb" Maintainer)" ] ||
	fail "the changelog is not signed by the package's maintainer"

# Hardened and stripped: the agent and the CNI plugin.
for bin in usr/sbin/nsagent usr/lib/cni/nsagent; do
	hardening-check --nocfprotection "$tmp/x/$bin" >"$tmp/hardening.log" 2>&1 ||
		{ cat "$tmp/hardening.log" >&2; fail "hardening-check /$bin"; }
	sections=$(readelf -S -W "$tmp/x/$bin")
	grep -qE '\.(symtab|debug_info|comment) ' <<<"$sections" &&
		fail "/$bin is not stripped: $(grep -E '\.(symtab|debug|comment)' <<<"$sections")"
done

# Maintainer scripts against a fake systemd: /run/systemd/system exists,
# systemctl, deb-systemd-invoke and deb-systemd-helper log their arguments,
# /var/lib is a directory of this test. Private mounts only.
mkdir -p "$tmp/fake/bin"
for tool in systemctl deb-systemd-invoke deb-systemd-helper; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$tool" "$tmp/fake/calls" >"$tmp/fake/bin/$tool"
	chmod +x "$tmp/fake/bin/$tool"
done
run_script() { # SCRIPT ARGS...: runs one maintainer script; prints its calls
	: >"$tmp/fake/calls"
	mkdir -p "$tmp/fake/var-lib/nsagent"
	: >"$tmp/fake/var-lib/nsagent/state"
	unshare --mount --propagation private env -u DPKG_ROOT PATH="$tmp/fake/bin:$PATH" sh -c '
		mount -t tmpfs fake-run /run && mkdir -p /run/systemd/system &&
		mount --bind "$1" /var/lib && shift && "$@"' fake "$tmp/fake/var-lib" \
		"$tmp/control/$1" "${@:2}" ||
		fail "$1 ${*:2} failed"
	tr '\n' ';' <"$tmp/fake/calls"
}
calls=$(run_script postinst configure)
[ "$calls" = "systemctl --system daemon-reload;" ] || fail "postinst configure made calls: $calls"
calls=$(run_script postinst configure 0.0.9)
[ "$calls" = "systemctl --system daemon-reload;" ] || fail "postinst upgrade made calls: $calls"
calls=$(run_script prerm remove)
[ "$calls" = "deb-systemd-invoke stop nsagent.service;" ] || fail "prerm remove made calls: $calls"
calls=$(run_script prerm upgrade 0.2.0)
[ -z "$calls" ] || fail "prerm upgrade made calls: $calls"
calls=$(run_script postrm remove)
[ "$calls" = "systemctl --system daemon-reload;" ] || fail "postrm remove made calls: $calls"
[ -e "$tmp/fake/var-lib/nsagent/state" ] || fail "postrm remove removed the state"
calls=$(run_script postrm purge)
[ "$calls" = "deb-systemd-helper purge nsagent.service;" ] || fail "postrm purge made calls: $calls"
[ ! -e "$tmp/fake/var-lib/nsagent/state" ] || fail "postrm purge left /var/lib/nsagent's files"
grep -nE 'systemctl +(--system +)?(enable|start|restart)|deb-systemd-(invoke +(start|restart)|helper +enable)|invoke-rc\.d' \
	"$tmp"/control/postinst && fail "postinst enables or starts the service"

# Install into a throwaway root with its own dpkg database. dpkg sets
# DPKG_ROOT for the scripts, which then leave systemd alone.
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

# The agent's state, as a run would leave it.
mkdir -p "$root/var/lib/nsagent"
: >"$root/var/lib/nsagent/state"
# Remove keeps the conffile and the state, purge removes both; then nothing is left.
dpkg_root -r nsagent >>"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -r"; }
[ ! -e "$root/usr/sbin/nsagent" ] || fail "dpkg -r left the binary"
[ -e "$root/etc/iproute2/rt_protos.d/nsagent.conf" ] || fail "dpkg -r removed a conffile"
[ -e "$root/var/lib/nsagent/state" ] || fail "dpkg -r removed the state"
dpkg_root -P nsagent >>"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -P"; }
left=$(cd "$root" && find . -mindepth 1 -not -path ./var -not -path ./var/lib \
	-not -path './var/lib/dpkg*' -print)
[ -z "$left" ] || fail "files left after purge: $left"
dpkg_root -s nsagent >/dev/null 2>&1 && fail "still known to dpkg after purge"
echo "test_deb: ok"
