#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Cluster key: host1 and host2 share a key and peer over TLS; host3 has
# another key and must get no session and no route, nor give any. A fake
# peer with a wrong key, or with none (plain TCP), is refused: closed long
# before the handshake timeout (host1's is 60 s here, so a refusal and a
# timeout cannot be mistaken for each other however slow the machine).
# A key file readable by others is refused before the agent does anything.
# With a key the agent can write no core file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

lab_init sec_key
keys=$(mktemp -d /tmp/nsagent-sec-key.XXXXXX)
lab_at_exit 'rm -rf "$keys"'
(umask 077 && "$NSAGENT" genkey >"$keys/cluster.key" && "$NSAGENT" genkey >"$keys/other.key")
cmp -s "$keys/cluster.key" "$keys/other.key" && fail "genkey printed the same key twice"

lab up --hosts 3 --no-agent --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"
# host1 starts with a core limit (and a sanitizer build with ASan's own
# core-dump disabling off), so only the agent can have set it to 0.
(
	ulimit -S -c unlimited
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0" \
		lab agent host1 start -- --key-file "$keys/cluster.key" --handshake-timeout 60s >/dev/null
) || fail "start host1"
lab agent host2 start -- --key-file "$keys/cluster.key" >/dev/null || fail "start host2"
lab agent host3 start -- --key-file "$keys/other.key" >/dev/null || fail "start host3"

# host1 and host2 route to each other over their TLS session...
lab wait --timeout 30 host1 -- sh -c 'ip route show 172.16.1.0/24 | grep -q "proto nsagent"' ||
	fail "host1: no route to host2 with the shared key"
lab wait --timeout 30 host2 -- sh -c 'ip route show 172.16.0.0/24 | grep -q "proto nsagent"' ||
	fail "host2: no route to host1 with the shared key"
lab agent host1 log | grep_q "every session is TLS 1.3" || fail "host1 does not say it uses TLS"
# With the key in memory no core file can be written: core limit 0 (soft
# and hard, as the kernel reports it) and not dumpable.
host1_pid=$(lab agent host1 pid)
core_limit=$(prlimit --pid "$host1_pid" --core --output SOFT,HARD --noheadings | xargs)
[[ $core_limit == "0 0" ]] || fail "host1 (with a key) has core limit '$core_limit', want '0 0'"
lab agent host1 log | grep_q "core dumps off while the cluster key is in memory (dumpable 0, core limit 0)" ||
	fail "host1 does not say core dumps are off"
lab exec host1 -- "$NSAGENT" status | grep_q "on (sessions authenticated)" ||
	fail "host1's status does not show the key: $(lab exec host1 -- "$NSAGENT" status)"
# ...while host3 (another key) keeps dialling host2 and failing
# (host2's only TLS failures: host1 has its key)
host3_refused() { (($(counter host2 tls_failures) > 0)); }
poll 30 host3_refused || fail "host2 counts no failed TLS handshake from host3"
[[ $(n_routes host3) == 0 ]] || fail "host3 (wrong key) has routes: $(routes host3)"
[[ $(n_routes host1) == 1 ]] || fail "host1 has routes other than host2's: $(routes host1)"
[[ $(n_routes host2) == 1 ]] || fail "host2 has routes other than host1's: $(routes host2)"

# A fake peer with a wrong key, and one without a key, from host3: each
# refused when its TLS handshake fails, not left to the handshake timeout.
for args in "--key-file $keys/other.key" ""; do
	tls0=$(counter host1 tls_failures) || fail "host1's status has no tls_failures"
	rc=0
	# shellcheck disable=SC2086 # args is two words or none
	out=$(fakepeer host3 session --connect 192.168.1.5:7470 --node-ip 192.168.1.7 --hold 3 \
		--advert 172.16.9.0/24 $args) || rc=$?
	[[ $rc == 4 ]] || fail "fake peer (${args:-no key}) was not refused: exit $rc, $out"
	ms=$(sed -n 's/^closed after \([0-9]*\) ms$/\1/p' <<<"$out")
	[[ -n $ms ]] && ((ms < 30000)) || fail "fake peer (${args:-no key}): not refused, closed by a timeout: $out"
	(($(counter host1 tls_failures) > tls0)) ||
		fail "fake peer (${args:-no key}): host1 counted no TLS failure: $out"
	label="without a key"
	[[ -z $args ]] || label="with the wrong key"
	echo "fake peer $label: closed after $ms ms"
done
[[ $(n_routes host1) == 1 ]] || fail "host1 routes changed: $(routes host1)"

# A key file others can read is refused with the reason, before anything.
cp "$keys/cluster.key" "$keys/loose.key"
chmod 644 "$keys/loose.key"
rc=0
err=$(lab exec host3 -- "$NSAGENT" --key-file "$keys/loose.key" --node-ip 192.168.1.7 \
	--subnet 172.16.2.0/24 --state-dir "$keys/state" --run-dir "$keys/run" 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "agent with a 0644 key file: exit $rc, want 1"
grep -q "mode 0644.*must be 0600" <<<"$err" || fail "no clear message for a 0644 key file: $err"
[[ ! -e $keys/state ]] || fail "the agent touched its state dir before refusing the key"
# Without a key: the loud warning.
lab agent host3 restart -- --log-level info >/dev/null || fail "restart host3 without a key"
poll 30 logs host3 "NO CLUSTER KEY: sessions are unauthenticated" ||
	fail "no warning for an agent without a key: $(log_last host3)"
lab exec host3 -- "$NSAGENT" status --json | jq -e '.node.key == false' >/dev/null ||
	fail "host3's status does not say unauthenticated: $(lab exec host3 -- "$NSAGENT" status --json)"
echo PASS
