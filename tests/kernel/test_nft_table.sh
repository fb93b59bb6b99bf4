#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The agent's nftables table (src/kernel/nft.c) against the real kernel:
# built, idempotent, repaired after hand edits, removed, and never touching
# a foreign table. Runs entirely inside a throwaway network + mount
# namespace; the machine's own ruleset is never read or changed.
set -euo pipefail

SANDBOX_PID=1
# shellcheck source=tests/kernel/sandbox.sh
source "$(dirname "$0")/sandbox.sh"

DRIVER=${NSAGENT_BUILD_DIR:?}/tests/nft_driver
SUBNET=172.16.0.0/24
CLUSTER=172.16.0.0/16
BRIDGE=br$TAG
BRIDGE=${BRIDGE:0:15}
WORK=$(mktemp -d "/tmp/nsa-nft-table-$TAG.XXXXXX")
STAY_PID=

cleanup() {
	if [[ -n "$STAY_PID" ]]; then
		reap "$STAY_PID"
	fi
	nft delete table inet nsagent 2>/dev/null || true
	nft delete table inet "foreign$TAG" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	echo "--- ruleset:" >&2
	nft list ruleset >&2 || true
	[[ -f "$WORK/stay.out" ]] && { echo "--- driver:" >&2; cat "$WORK/stay.out" "$WORK/stay.err" >&2; }
	exit 1
}

# contains PATTERN CMD...: CMD succeeds and its output matches PATTERN.
# (Not "cmd | grep -q": with pipefail, grep quitting early can fail the
# pipeline by SIGPIPE.)
contains() {
	local pattern=$1 text
	shift
	text=$("$@" 2>/dev/null) || return 1
	grep -q -- "$pattern" <<<"$text"
}

# Prints "<chains> <rules>" of our table as the kernel reports them.
shape() {
	nft -j list table inet nsagent 2>/dev/null | python3 -c '
import json, sys
items = json.load(sys.stdin)["nftables"]
print(sum("chain" in i for i in items), sum("rule" in i for i in items))'
}

table_is_complete() {
	[[ "$(shape)" == "4 5" ]] &&
		contains "ip saddr $SUBNET ip daddr != $CLUSTER counter packets [0-9]* bytes [0-9]* masquerade fully-random" \
			nft list chain inet nsagent postrouting
}

nft add table inet "foreign$TAG"
nft add chain inet "foreign$TAG" keep '{ type filter hook forward priority 10; }'
nft add rule inet "foreign$TAG" keep counter comment '"not ours"'

echo "== first apply builds the table"
out=$("$DRIVER" apply $SUBNET $CLUSTER "$BRIDGE" 2>"$WORK/err") || fail "apply: $(cat "$WORK/err")"
[[ "$out" == "changed=1" ]] || fail "first apply printed '$out'"
table_is_complete || fail "table not as specified"
contains "iifname \"$BRIDGE\" ip daddr $CLUSTER counter .* accept" nft list chain inet nsagent forward ||
	fail "forward bridge->cluster rule missing"
contains "oifname \"$BRIDGE\" ip saddr $CLUSTER counter .* accept" nft list chain inet nsagent forward ||
	fail "forward cluster->bridge rule missing"
for chain in raw_prerouting raw_output; do
	contains "priority raw;" nft list chain inet nsagent $chain || fail "$chain not at raw priority"
	contains "ip saddr $CLUSTER ip daddr $CLUSTER counter .* notrack" nft list chain inet nsagent $chain ||
		fail "$chain has no notrack rule"
done
contains "type nat hook postrouting priority srcnat" nft list chain inet nsagent postrouting ||
	fail "postrouting chain is not srcnat"

echo "== second apply changes nothing"
handle_before=$(nft -a list chain inet nsagent postrouting | grep -o 'handle [0-9]*' | tail -1)
out=$("$DRIVER" apply $SUBNET $CLUSTER "$BRIDGE") || fail "second apply failed"
[[ "$out" == "changed=0" ]] || fail "second apply printed '$out'"
handle_after=$(nft -a list chain inet nsagent postrouting | grep -o 'handle [0-9]*' | tail -1)
[[ "$handle_before" == "$handle_after" ]] || fail "second apply rewrote the table"

echo "== a different spec replaces the table atomically"
out=$("$DRIVER" apply 172.16.4.0/23 172.16.0.0/15 "$BRIDGE") || fail "apply new spec failed"
[[ "$out" == "changed=1" ]] || fail "new spec printed '$out'"
contains "ip saddr 172.16.4.0/23 ip daddr != 172.16.0.0/15" nft list chain inet nsagent postrouting ||
	fail "new spec not applied"
[[ "$(shape)" == "4 5" ]] || fail "new spec left $(shape) chains/rules"

echo "== with a VTEP, VXLAN to and from it is not tracked either"
out=$("$DRIVER" apply 172.16.4.0/23 172.16.0.0/15 "$BRIDGE" --vtep 192.168.77.1) || fail "apply with a VTEP failed"
[[ "$out" == "changed=1" ]] || fail "apply with a VTEP printed '$out'"
[[ "$(shape)" == "4 7" ]] || fail "with a VTEP: $(shape) chains/rules, want 4 7"
contains "ip daddr 192.168.77.1 udp dport 4789 counter .* notrack" nft list chain inet nsagent raw_prerouting ||
	fail "raw_prerouting has no VXLAN notrack rule"
contains "ip saddr 192.168.77.1 udp dport 4789 counter .* notrack" nft list chain inet nsagent raw_output ||
	fail "raw_output has no VXLAN notrack rule"
out=$("$DRIVER" apply 172.16.4.0/23 172.16.0.0/15 "$BRIDGE" --vtep 192.168.77.1) || fail "second apply with a VTEP failed"
[[ "$out" == "changed=0" ]] || fail "second apply with a VTEP printed '$out'"

echo "== the watcher repairs hand edits"
"$DRIVER" apply $SUBNET $CLUSTER "$BRIDGE" --stay >"$WORK/stay.out" 2>"$WORK/stay.err" &
STAY_PID=$!
poll 10 grep -q "changed=1" "$WORK/stay.out" || fail "stay: first apply did not report changed=1"
table_is_complete || fail "stay: table not rebuilt for the original spec"

repaired() { [[ "$(grep -c '^repaired$' "$WORK/stay.out")" -ge "$1" ]]; }
tampers=0
tamper() {
	echo "   - $*"
	"$@"
	tampers=$((tampers + 1))
	poll 10 repaired $tampers || fail "no repair after: $*"
	poll 10 table_is_complete || fail "table not restored after: $*"
}
tamper nft delete table inet nsagent
tamper nft flush chain inet nsagent postrouting
tamper nft delete chain inet nsagent raw_output
tamper nft add rule inet nsagent forward drop
tamper nft add chain inet nsagent forward '{ policy drop; }'
tamper nft add table inet nsagent '{ flags dormant; }'
tamper nft flush ruleset
nft add table inet "foreign$TAG"
nft add chain inet "foreign$TAG" keep '{ type filter hook forward priority 10; }'
nft add rule inet "foreign$TAG" keep counter comment '"not ours"'

echo "== changes outside our table are ignored"
nft add rule inet "foreign$TAG" keep counter
# Our own table is untouched by that; an unrelated change must not cause a
# rebuild. A marker edit to our table then proves events are still flowing
# and were processed in order.
tamper nft flush chain inet nsagent forward
count=$(grep -c '^repaired$' "$WORK/stay.out")
[[ "$count" -eq "$tampers" ]] || fail "$count repairs for $tampers hand edits (repair loop or foreign change acted on)"
if grep -qvE '^[-0-9T:.]+ info: ' "$WORK/stay.err"; then
	fail "driver reported errors"
fi

echo "== second apply while the watcher runs changes nothing"
out=$("$DRIVER" apply $SUBNET $CLUSTER "$BRIDGE") || fail "apply beside watcher failed"
[[ "$out" == "changed=0" ]] || fail "apply beside watcher printed '$out'"

kill "$STAY_PID"
wait "$STAY_PID" || fail "watcher exited with an error: $(cat "$WORK/stay.err")"
STAY_PID=

echo "== --masquerade-except: an accept per range, before the masquerade"
out=$("$DRIVER" apply $SUBNET $CLUSTER "$BRIDGE" --masquerade-except 192.168.1.0/24 \
	--masquerade-except 10.20.0.0/16) || fail "apply with --masquerade-except failed"
[[ "$out" == "changed=1" ]] || fail "apply with --masquerade-except printed '$out'"
[[ "$(shape)" == "4 7" ]] || fail "with two exempt ranges: $(shape) chains/rules, want 4 7"
# In this order: the two accepts (with their comment), then the masquerade.
postrouting=$(nft list chain inet nsagent postrouting | grep 'ip saddr' |
	sed -e 's/packets [0-9]* bytes [0-9]*//' -e 's/^[[:space:]]*//')
want="ip saddr $SUBNET ip daddr 192.168.1.0/24 counter  accept comment \"nsagent: not masqueraded (--masquerade-except)\"
ip saddr $SUBNET ip daddr 10.20.0.0/16 counter  accept comment \"nsagent: not masqueraded (--masquerade-except)\"
ip saddr $SUBNET ip daddr != $CLUSTER counter  masquerade fully-random comment \"nsagent: masquerade namespaces leaving the cluster\""
[[ $postrouting == "$want" ]] ||
	fail "postrouting with --masquerade-except: '$postrouting'"
out=$("$DRIVER" apply $SUBNET $CLUSTER "$BRIDGE" --masquerade-except 192.168.1.0/24 \
	--masquerade-except 10.20.0.0/16) || fail "second apply with --masquerade-except failed"
[[ "$out" == "changed=0" ]] || fail "second apply with --masquerade-except printed '$out'"
# Without them again: the accepts go.
out=$("$DRIVER" apply $SUBNET $CLUSTER "$BRIDGE") || fail "apply without --masquerade-except failed"
[[ "$out" == "changed=1" ]] || fail "apply without --masquerade-except printed '$out'"
table_is_complete || fail "the exempt ranges stayed"

echo "== remove deletes only our table"
out=$("$DRIVER" remove) || fail "remove failed"
nft list table inet nsagent >/dev/null 2>&1 && fail "table still there after remove"
contains 'comment "not ours"' nft list chain inet "foreign$TAG" keep || fail "foreign table was touched"
out=$("$DRIVER" remove) || fail "second remove (no table) failed"
nft list table inet "foreign$TAG" >/dev/null || fail "foreign table gone"

echo "PASS"
