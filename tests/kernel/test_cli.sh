#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The nsagent command line: subcommands, help, and exit codes (0 success,
# 2 bad command line or config). It only runs the binary: nothing here
# touches the network, so it needs no namespace. Every config-taking call
# passes --config so the machine's /etc/nsagent/nsagent.conf cannot leak in.
set -u

NSAGENT=${NSAGENT:?NSAGENT must name the nsagent binary}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsagent-cli.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# run EXPECTED_STATUS ARGS...: runs nsagent, keeps stdout/stderr in
# $tmp/out and $tmp/err, and checks the exit status.
run() {
	local want=$1 got
	shift
	"$NSAGENT" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		fail "nsagent $* exited $got, want $want; stderr: $(cat "$tmp/err")"
		return 1
	fi
	return 0
}

# expect_in FILE TEXT: FILE (out or err) contains TEXT literally.
expect_in() {
	grep -qF -- "$2" "$tmp/$1" || fail "$1 of the last command lacks '$2': $(cat "$tmp/$1")"
}

empty="$tmp/empty.conf"
: >"$empty"
good="$tmp/good.conf"
cat >"$good" <<'EOF'
[nsagent]
peer = 192.168.1.6
node-ip = 192.168.1.5
subnet = 172.16.0.0/24
keepalive = 500ms
EOF
bad="$tmp/bad.conf"
cat >"$bad" <<'EOF'
[nsagent]
port = 7470

subnett = 172.16.1.0/24
EOF

# check-config: good file -> 0 and the effective config on stdout.
run 0 check-config --config "$good" --bridge brtest &&
	{
		expect_in out "[nsagent]"
		expect_in out "peer = 192.168.1.6:7470"
		expect_in out "subnet = 172.16.0.0/24"
		expect_in out "keepalive = 500ms"
		expect_in out "bridge = brtest"
		[ -s "$tmp/err" ] && fail "check-config wrote to stderr: $(cat "$tmp/err")"
	}
# Its output is itself a valid config that prints the same.
if run 0 check-config --config "$good"; then
	cp "$tmp/out" "$tmp/printed.conf"
	run 0 check-config --config "$tmp/printed.conf" &&
		{ cmp -s "$tmp/out" "$tmp/printed.conf" || fail "check-config output does not round-trip"; }
fi

# Bad flag values: 2, and the message names the flag.
run 2 check-config --config "$empty" --subnet 172.16.1.1/24 &&
	expect_in err "nsagent: --subnet: 172.16.1.1/24 has host bits set"
run 2 check-config --config "$empty" --keepalive 3 && expect_in err "nsagent: --keepalive: "
run 2 check-config --config "$empty" --hold-time 1s && expect_in err "nsagent: --hold-time: "
run 2 check-config --config "$empty" --port 70000 && expect_in err "nsagent: --port: "
run 2 check-config --config "$empty" --namespaces NS1,NS1 && expect_in err "nsagent: --namespaces: "
run 2 check-config --config "$empty" --no-such-flag && expect_in err "nsagent: --no-such-flag: unknown option"
run 2 check-config --config "$empty" --peer && expect_in err "nsagent: --peer: missing value"
run 2 check-config --config "$tmp/missing.conf" && expect_in err "nsagent: --config: "
[ -s "$tmp/out" ] && fail "a failed check-config printed a config"

# A bad file line: 2, naming file:line.
run 2 check-config --config "$bad" && expect_in err "nsagent: $bad:4: unknown key 'subnett'"

# A bad namespace name is named even when no agent runs.
run 2 ns add 'bad/name' --run-dir "$tmp/norun" --config "$empty" &&
	expect_in err "nsagent: ns add: namespace name 'bad/name'"

# A key file the agent would refuse is refused by check-config too.
(umask 077 && "$NSAGENT" genkey >"$tmp/cluster.key")
run 0 check-config --config "$empty" --key-file "$tmp/cluster.key"
chmod 0644 "$tmp/cluster.key"
run 2 check-config --config "$empty" --key-file "$tmp/cluster.key" &&
	expect_in err "nsagent: --key-file: "

# run is the default command and fails the same way on a bad config,
# before the daemon starts.
run 2 --config "$empty" --subnet 10.0.0.0/24 && expect_in err "nsagent: --subnet: "
run 2 run --config "$empty" --backend gre && expect_in err "nsagent: --backend: "
run 2 down --config "$empty" --bridge "br/0" && expect_in err "nsagent: --bridge: "

# version
run 0 version && { grep -qE '^nsagent [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out" || fail "version printed '$(cat "$tmp/out")'"; }
run 0 --version && expect_in out "nsagent "
run 2 version extra && expect_in err "unexpected argument 'extra'"

# help: general, per command, and CMD --help.
for args in "help" "--help" "-h"; do
	# shellcheck disable=SC2086
	run 0 $args && { expect_in out "Usage: nsagent"; expect_in out "check-config"; expect_in out "down"; }
done
run 0 help check-config && { expect_in out "Usage: nsagent check-config"; expect_in out "--cluster-cidr"; }
run 0 check-config --help && { expect_in out "Usage: nsagent check-config"; expect_in out "--peer"; }
run 0 run --help && expect_in out "Usage: nsagent run"
run 0 --peer 192.168.1.6 --help && expect_in out "Usage: nsagent run"
run 0 down --help && expect_in out "Usage: nsagent down"
run 0 version --help && expect_in out "Usage: nsagent version"
run 2 help frobnicate && expect_in err "unknown command 'frobnicate'"

# Unknown subcommand.
run 2 frobnicate && expect_in err "nsagent: unknown command 'frobnicate'"

if [ "$failures" -ne 0 ]; then
	echo "test_cli: $failures failure(s)" >&2
	exit 1
fi
echo "test_cli: ok"
