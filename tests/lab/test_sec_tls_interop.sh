#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The cluster key against another TLS implementation: OpenSSL's own
# s_server and s_client (the real CLI) on host3, against a real agent on
# host1 that has a key and a session with host2 (same key).
#
# A handshake counts only if it used the cluster PSK, whichever side we
# are. As a client, host1 dials s_server showing a self-signed certificate
# (the server ignores the PSK: this handshake used to complete and its
# peer's hello and adverts to be taken), a wrong PSK, and TLS 1.2 only:
# each fails, host1's log names why, host3 gets no session and gives no
# route. As a server, host1 refuses s_client without a PSK (with a
# certificate of its own), with a wrong PSK, and with TLS 1.2. Through all
# of it host1 stays up and its session with host2 is never reset. With
# the right key as PSK (TLS 1.3) both tools do complete a handshake with
# host1, so the refusals are the key's and not some other mismatch.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

HOST1=192.168.1.5
HOST2=192.168.1.6
HOST3=192.168.1.7

lab_init sec_tls_interop
tmp=$(mktemp -d /tmp/nsagent-sec-tls.XXXXXX)
lab_at_exit 'rm -rf "$tmp"'
(umask 077 && "$NSAGENT" genkey >"$tmp/cluster.key" && "$NSAGENT" genkey >"$tmp/other.key")
# The key as the hex that openssl's -psk takes.
psk_hex() { base64 -d <"$1" | od -An -v -tx1 | tr -d ' \n'; }
psk=$(psk_hex "$tmp/cluster.key")
wrong_psk=$(psk_hex "$tmp/other.key")
((${#psk} == 64)) || fail "cluster key is not 32 bytes: $psk"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=x -days 1 \
	-keyout "$tmp/k.pem" -out "$tmp/c.pem" 2>"$tmp/req.err" ||
	fail "openssl req: $(cat "$tmp/req.err")"

# s_server on host3's peer port, its stdin held open (it quits at EOF) and
# its output in $tmp/server.log. setsid makes it the leader of its own
# process group, so that server_stop ends exactly what it started.
server_pid=
server_listening() { lab exec host3 -- ss -Hltn 'sport = :7470' | grep_q .; }
server_gone() { ! server_listening; }
server_start() {
	setsid "$LABCTL" exec host3 -- sh -c 'sleep infinity | exec openssl s_server "$@"' \
		s_server -accept 7470 "$@" >"$tmp/server.log" 2>&1 &
	server_pid=$!
	poll 30 server_listening || fail "s_server $* does not listen: $(cat "$tmp/server.log")"
}
server_stop() {
	[[ -n $server_pid ]] || return 0
	kill -TERM -- "-$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
	poll 30 server_gone
}
lab_at_exit 'server_stop || echo "s_server on host3 still listens" >&2'

# tls_failures: host1's count of refused handshakes.
tls_failures() {
	lab exec host1 -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics |
		awk '$1 == "nsagent_tls_failures_total" {print $2}'
}
# peer_state ADDR: host1's session state with the peer at ADDR.
peer_state() { peer_field host1 "$1" state; }
# mark: host1's log length and TLS failure count before a case, into the
# caller's lines and failures.
mark() {
	lines=$(log_lines host1)
	failures=$(tls_failures)
}
host2_intact() {
	agent_alive host1 || fail "host1's agent died: $(lab agent host1 log | tail -n 20)"
	[[ $(peer_state "$HOST2") == established ]] ||
		fail "host1's session with host2 is $(peer_state "$HOST2"), not established"
	[[ $(n_routes host1) == 1 ]] || fail "host1's routes changed: $(routes host1)"
}

lab up --hosts 3 --no-agent --name "$NSAGENT_LAB" >/dev/null || fail "deploy/lab up"
# host1 dials host2 (the lab's peer) and host3 (where openssl runs); quick
# redials so that each s_server below is tried within a second.
lab agent host1 start -- --key-file "$tmp/cluster.key" --peer "$HOST3" --metrics 127.0.0.1:9470 \
	--connect-retry-min 100ms --connect-retry-max 1s >/dev/null || fail "start host1"
lab agent host2 start -- --key-file "$tmp/cluster.key" >/dev/null || fail "start host2"
lab wait --timeout 30 host1 -- sh -c 'ip route show 172.16.1.0/24 | grep -q "proto nsagent"' ||
	fail "host1: no route to host2 with the shared key"
poll 30 eval '[[ $(peer_state "$HOST2") == established ]]' || fail "host1: no session with host2"
lab exec host1 -- "$NSAGENT" status | grep_q "on (sessions authenticated)" ||
	fail "host1's status does not show the key"
host2_session=$(one_session host1 "$HOST2")

# ---- host1 as the client: s_server on host3 ----

# server_refused WHAT ARGS...: host1 dials s_server ARGS, its handshake
# fails and host1 logs the reason (matching the ERE $want), either from
# the handshake or from the check at its completion; s_server completes no
# handshake; host3 gets no session and no route.
server_refused() {
	local what=$1 lines failures
	shift
	mark
	server_start "$@"
	outcome() {
		log_since host1 "$lines" |
			grep_q -E "connection $HOST3:7470: TLS handshake .*($want)|peer $HOST3:7470: connect -> opensent"
	}
	poll 30 outcome || fail "$what: host1 logs no outcome of its dial: $(log_since host1 "$lines")"
	if log_since host1 "$lines" | grep_q "peer $HOST3:7470: connect -> opensent"; then
		fail "$what: host1 completed a TLS handshake with s_server: $(log_since host1 "$lines")"
	fi
	server_stop || fail "s_server still listens after being stopped"
	if grep -q "CIPHER is" "$tmp/server.log"; then
		fail "$what: s_server completed a handshake: $(cat "$tmp/server.log")"
	fi
	grep -q "ERROR" "$tmp/server.log" || fail "$what: s_server reports no error: $(cat "$tmp/server.log")"
	(($(tls_failures) > failures)) || fail "$what: host1's nsagent_tls_failures_total did not grow"
	[[ $(peer_state "$HOST3") != established ]] || fail "$what: host1 has a session with host3"
	host2_intact
	echo "host1 against s_server $what: refused"
}

want="sent a certificate instead of using the cluster key|did not use the cluster key"
server_refused "with a certificate" -tls1_3 -cert "$tmp/c.pem" -key "$tmp/k.pem"
want="alert illegal parameter"
server_refused "with another key" -tls1_3 -nocert -psk "$wrong_psk" -psk_identity nsagent-cluster
want="protocol version"
server_refused "with TLS 1.2 and a certificate" -tls1_2 -cert "$tmp/c.pem" -key "$tmp/k.pem"

# The right key: s_server completes the handshake. Being no agent it sends
# no hello, so host1 times each session out and dials again; it stays up
# through the s_client cases below, so that every redial of host1 is a
# completed handshake and host1's TLS failures are only the ones s_client
# causes.
lines=$(log_lines host1)
server_start -tls1_3 -nocert -psk "$psk" -psk_identity nsagent-cluster
connected() { log_since host1 "$lines" | grep_q "peer $HOST3:7470: connect -> opensent"; }
poll 30 connected || fail "host1 did not complete a handshake with s_server given the key: \
$(log_since host1 "$lines"); s_server: $(cat "$tmp/server.log")"
grep -Eq "CIPHER is TLS_(AES_128_GCM|CHACHA20_POLY1305)_SHA256" "$tmp/server.log" ||
	fail "s_server given the key shows no completed handshake: $(cat "$tmp/server.log")"
if log_since host1 "$lines" | grep_q "TLS handshake refused"; then
	fail "host1 refused a handshake with the right key: $(log_since host1 "$lines")"
fi
echo "host1 against s_server with the key: handshake completed"

# ---- host1 as the server: s_client from host3 ----

# client ARGS...: s_client from host3 to host1's peer port, stdin closed
# (it ends once the handshake is over); its output in $tmp/client.log, its
# exit status in client_rc.
client() {
	client_rc=0
	lab exec host3 -- timeout 10 openssl s_client -connect "$HOST1:7470" "$@" \
		</dev/null >"$tmp/client.log" 2>&1 || client_rc=$?
}

# client_refused WHAT ARGS...
client_refused() {
	local what=$1 lines failures
	shift
	mark
	client "$@"
	((client_rc != 0)) || fail "$what: s_client exited 0: $(cat "$tmp/client.log")"
	grep -q "Cipher is (NONE)" "$tmp/client.log" ||
		fail "$what: s_client completed a handshake: $(cat "$tmp/client.log")"
	refused() { log_since host1 "$lines" | grep_q "connection $HOST3:[0-9]*: TLS handshake failed"; }
	poll 30 refused || fail "$what: host1 does not log the refused handshake: \
$(log_since host1 "$lines")"
	[[ $(tls_failures) == $((failures + 1)) ]] ||
		fail "$what: host1's nsagent_tls_failures_total went from $failures to $(tls_failures)"
	host2_intact
	echo "s_client $what against host1: refused"
}

client_refused "without a key (TLS 1.3)" -tls1_3
client_refused "without a key, with a certificate of its own" -tls1_3 \
	-cert "$tmp/c.pem" -key "$tmp/k.pem"
client_refused "with another key" -tls1_3 -psk "$wrong_psk" -psk_identity nsagent-cluster
client_refused "with the key over TLS 1.2" -tls1_2 -psk "$psk" -psk_identity nsagent-cluster

failures=$(tls_failures)
client -tls1_3 -psk "$psk" -psk_identity nsagent-cluster
((client_rc == 0)) || fail "s_client with the key: exit $client_rc: $(cat "$tmp/client.log")"
# Reused: the handshake used the PSK; the suite is any with its hash.
grep -Eq "Reused, TLSv1\.3, Cipher is TLS_(AES_128_GCM|CHACHA20_POLY1305)_SHA256" "$tmp/client.log" ||
	fail "s_client with the key did not complete a PSK handshake: $(cat "$tmp/client.log")"
[[ $(tls_failures) == "$failures" ]] || fail "s_client with the key counted as a TLS failure"
echo "s_client with the key against host1: handshake completed"
server_stop || fail "s_server still listens after being stopped"

# Through all of it: host1 up, its session with host2 the one from the
# start, host3 never routed.
host2_intact
no_flap host1 "$host2_session" "$HOST2" || fail "host1's session with host2 was reset"
[[ $(n_routes host3) == 0 ]] || fail "host3 has routes: $(routes host3)"
echo PASS
