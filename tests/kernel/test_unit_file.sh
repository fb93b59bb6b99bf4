#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# deploy/systemd/nsagent.service passes `systemd-analyze verify` without a
# single complaint (verify exits 0 on mere warnings, so any output fails),
# and `systemd-analyze security --offline=yes` rates its exposure 4.5 or
# less. The unit reloads synchronously (ExecReload runs `nsagent reload`),
# starts only with a config, has a watchdog and a file limit, and has no
# option that gives the service its own mount namespace (which would hide
# the agent's /run/netns mounts from the host). ExecStart is pointed at the
# binary under test, since /usr/sbin/nsagent need not be installed here.
# Deliberately broken copies must be caught, so this test cannot pass
# vacuously.
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
expect() { # PATTERN WHY
	grep -qE "$1" "$unit" || { echo "FAIL: $2 (no line matching $1 in $unit)"; exit 1; }
}
expect '^ExecReload=/usr/sbin/nsagent reload --config /etc/nsagent/nsagent.conf$' \
	"reload is not synchronous"
expect '^ConditionPathExists=/etc/nsagent/nsagent.conf$' "the unit starts without a config"
expect '^WatchdogSec=[1-9]' "no watchdog"
expect '^RestrictNamespaces=net$' "namespaces other than net are allowed"
expect '^DevicePolicy=closed$' "devices are open"
expect '^SystemCallErrorNumber=EPERM$' "a filtered system call kills the agent"
# max-connections (1024 by default) plus the agent's own descriptors.
limit=$(sed -n 's/^LimitNOFILE=\([0-9]*\)$/\1/p' "$unit")
[ "${limit:-0}" -ge 1200 ] || { echo "FAIL: LimitNOFILE=${limit:-unset} is below max-connections' default plus margin"; exit 1; }
if grep -nE '^(KillMode=process|AmbientCapabilities=)' "$unit"; then
	echo "FAIL: options that have no effect here are back"
	exit 1
fi
if grep -nE '^SystemCallFilter=.*@mount' "$unit"; then
	echo "FAIL: the whole @mount group is allowed (the agent calls mount and umount2 only)"
	exit 1
fi
mount_ns='ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|ProcSubset|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths|ExecPaths|NoExecPaths|TemporaryFileSystem|BindPaths|BindReadOnlyPaths|MountFlags|RootDirectory|RootImage'
if grep -nE "^($mount_ns)=" "$unit"; then
	echo "FAIL: an option above gives the service a mount namespace: /run/netns mounts would not reach the host"
	exit 1
fi

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

# Exposure: systemd-analyze prints it as "Overall exposure level ... 4.2";
# --threshold=45 (tenths) makes it fail above 4.5.
security() {
	systemd-analyze security --offline=yes --threshold=45 "$1" 2>&1
}
out=$(security "$tmp/nsagent.service")
rc=$?
echo "$out" | tail -n 1
if [ "$rc" -ne 0 ]; then
	echo "FAIL: systemd-analyze security rates the unit above 4.5 (exit $rc):"
	echo "$out" | grep -v '✓'
	exit 1
fi
grep -vE '^(NoNewPrivileges|RestrictNamespaces|CapabilityBoundingSet|DevicePolicy)=' \
	"$tmp/nsagent.service" >"$tmp/weak.service"
if security "$tmp/weak.service" >/dev/null; then
	echo "FAIL: a unit without sandboxing passes the exposure check: this test cannot fail"
	exit 1
fi

sed -i 's/^Type=notify$/Type=notifi/' "$tmp/nsagent.service"
out=$(verify "$tmp/nsagent.service")
if [ -z "$out" ]; then
	echo "FAIL: systemd-analyze verify did not notice Type=notifi: this test cannot fail"
	exit 1
fi
echo "test_unit_file: ok"
