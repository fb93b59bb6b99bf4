#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Hostile WireGuard adverts (issue 19): agents with --backend wireguard and
# no cluster key (they warn that anyone can announce a key), and fake
# peers (fakepeer, from host2's namespace, each with a node IP of its own)
# advertising their subnet with a 31-byte public key, with host2's public
# key (a key another live node has), and with good keys on port 0 and on
# port 65536. host1 refuses each key per entry, counted under its reason
# in adverts_wg_rejected and logged; the session stays up, the subnet is
# routed (unencrypted, said so), and host1's device keeps exactly host2 as
# its peer with host2's allowed IPs: the duplicate key took nothing.
# shellcheck disable=SC2015 # "A && B || fail" is meant
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peers_lib.sh"
source "$(dirname "$0")/sec_lib.sh"

lab_init sec_wireguard
lab up --hosts 2 --name "$NSAGENT_LAB" -- --backend wireguard >/dev/null || fail "deploy/lab up"
poll 30 mesh_ready 2 || fail "host1 and host2 do not peer"
poll 30 peer_is host1 192.168.1.6 mode wireguard || fail "host1: host2 not in mode wireguard"
logs host1 'WIREGUARD WITHOUT A CLUSTER KEY: .* can announce a key' ||
	fail "host1 does not warn that keys come over unauthenticated sessions"
key2=$(status_json host2 | jq -r .node.wg_public_key)
key2_hex=$(base64 -d <<<"$key2" | od -An -tx1 | tr -d ' \n')
[[ ${#key2_hex} == 64 ]] || fail "host2's public key in hex: '$key2_hex'"
good_hex=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
allowed_before=$(lab exec host1 -- wg show nsa-wg allowed-ips)
mark=$(log_lines host1)

# fake N KEYHEX PORT: a session from 192.168.1.20N advertising 172.16.7N.0/24.
fake() {
	local ip=192.168.1.20$1
	lab exec host2 -- ip addr add "$ip/24" dev eth0
	fakepeer host2 session --connect 192.168.1.5:7470 --node-ip "$ip" --from "$ip" --hold 3 \
		--advert "172.16.7$1.0/24" --wg-key "$2" --wg-port "$3" >"$NSAGENT_LAB.fake$1" 2>&1 ||
		fail "fake peer $1's session did not stay up (exit $?): $(cat "$NSAGENT_LAB.fake$1")"
	lab_at_exit "rm -f '$NSAGENT_LAB.fake$1'"
	routes host1 | grep_q "^172.16.7$1.0/24 via $ip\$" ||
		fail "fake peer $1's subnet is not routed (directly): $(routes host1)"
}
fake 1 "${good_hex:0:62}" 51820
fake 2 "$key2_hex" 51820
fake 3 "$good_hex" 0
fake 4 "$good_hex" 65536

for want in malformed_key:1 duplicate_key:1 bad_port:2; do
	got=$(counter host1 adverts_wg_rejected "${want%:*}")
	[[ $got == "${want#*:}" ]] || fail "adverts_wg_rejected{${want%:*}} is $got, want ${want#*:}"
done
log=$(log_since host1 "$mark")
for want in \
	"advertised WireGuard key (31 bytes) and port 51820 rejected: a public key is 32 bytes" \
	"advertised WireGuard key (32 bytes) and port 51820 rejected: another node already advertises that key" \
	"advertised WireGuard key (32 bytes) and port 0 rejected: the port must be from 1 to 65535" \
	"advertised WireGuard key (32 bytes) and port 65536 rejected: the port must be from 1 to 65535" \
	"it advertises no WireGuard key, so UNENCRYPTED"; do
	grep -qF -- "$want" <<<"$log" || fail "host1's log lacks '$want'"
done
[[ $(lab exec host1 -- wg show nsa-wg allowed-ips) == "$allowed_before" ]] ||
	fail "host1's WireGuard peers changed: $(lab exec host1 -- wg show nsa-wg allowed-ips)"
agent_alive host1 || fail "host1's agent died"
lab ping host1 NS1 172.16.1.2 || fail "NS1@host1 no longer reaches NS1@host2"
echo PASS
