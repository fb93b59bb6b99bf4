# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Sourced first by every kernel test (directly, or through kern_lib.sh).
# Re-executes the calling test inside a fresh network namespace and a
# private mount namespace with a tmpfs on /run, so nothing the test makes
# can reach the machine's root network namespace or its /run/netns.
# SANDBOX_PID=1 before sourcing adds a pid namespace as well
# (--kill-child: no process the test starts outlives it).
# Inside, TAG is the test's pid outside the sandbox (in a pid namespace $$
# is 1), unique across parallel runs.
set -euo pipefail

if [[ -z "${NSA_IN_SANDBOX:-}" ]]; then
	if [[ $(id -u) != 0 ]]; then
		echo "SKIP: kernel tests need root (they run in their own namespaces)" >&2
		exit 77
	fi
	sandbox_flags=(--net --mount --propagation private)
	if [[ "${SANDBOX_PID:-}" == 1 ]]; then
		sandbox_flags+=(--pid --fork --kill-child --mount-proc)
	fi
	exec env NSA_IN_SANDBOX=$$ unshare "${sandbox_flags[@]}" bash "$0" "$@"
fi
TAG=$NSA_IN_SANDBOX
mount -t tmpfs "nsa-test-$TAG" /run
ip link set lo up

# reap PID...: kills each background process and waits for it to end.
reap() {
	local pid
	for pid in "$@"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

# poll SECONDS CMD...: runs CMD until it succeeds; fails once SECONDS pass.
poll() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}
