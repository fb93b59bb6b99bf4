#!/bin/bash
# deploy/systemd/nsagent.service passes `systemd-analyze verify` without a
# single complaint (verify exits 0 on mere warnings, so any output fails).
# ExecStart is pointed at the binary under test, since /usr/sbin/nsagent
# need not be installed here. A deliberately broken copy must be caught,
# so this test cannot pass vacuously.
set -u

NSAGENT=${NSAGENT:?NSAGENT must name the nsagent binary}
NSAGENT_SOURCE_DIR=${NSAGENT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze is not installed (apt-get install systemd); unit file not verified"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsagent-unit.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

unit=$NSAGENT_SOURCE_DIR/deploy/systemd/nsagent.service
grep -q '^ExecStart=/usr/sbin/nsagent ' "$unit" || { echo "FAIL: ExecStart is not /usr/sbin/nsagent"; exit 1; }
grep -q '^Type=notify$' "$unit" || { echo "FAIL: the unit is not Type=notify"; exit 1; }
grep -q '^Restart=on-failure$' "$unit" || { echo "FAIL: the unit does not restart on failure"; exit 1; }

verify() {
	systemd-analyze verify --man=no "$1" 2>&1
}

sed "s|/usr/sbin/nsagent|$(readlink -f "$NSAGENT")|" "$unit" >"$tmp/nsagent.service"
out=$(verify "$tmp/nsagent.service")
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
	echo "FAIL: systemd-analyze verify (exit $rc):"
	echo "$out"
	exit 1
fi

sed -i 's/^Type=notify$/Type=notifi/' "$tmp/nsagent.service"
out=$(verify "$tmp/nsagent.service")
if [ -z "$out" ]; then
	echo "FAIL: systemd-analyze verify did not notice Type=notifi: this test cannot fail"
	exit 1
fi
echo "test_unit_file: ok"
