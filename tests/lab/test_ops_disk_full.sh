#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A full disk under the state dir: host1's /var/lib/nsagent is a small tmpfs
# (mounted in host1's own mount namespace, nowhere else) that a filler file
# fills up. `nsagent ns add` then fails saying no space is left on the
# device (not "no free address", which is about the subnet), the agent
# keeps running, and the failed save is counted in status --json and in
# the metrics. Once the filler is gone the same `ns add` works, and the
# namespace is persisted (it survives a restart) and reachable.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

lab_init
lab up --hosts 1 --no-agent >/dev/null || fail "deploy/lab up"
# 256 KiB: the agent's few files (a page each) fit, the filler takes the rest.
lab exec host1 -- mount -t tmpfs -o size=256k,mode=0700 nsa-full /var/lib/nsagent ||
	fail "cannot mount a tmpfs on host1's /var/lib/nsagent"
lab_at_exit 'lab agent host1 stop >/dev/null 2>&1; lab exec host1 -- umount /var/lib/nsagent'
lab agent host1 start -- --metrics 127.0.0.1:9470 || fail "agent start"
lab ping --timeout 10 host1 NS1 172.16.0.1 || fail "NS1 cannot reach the bridge"
lab exec host1 -- test -s /var/lib/nsagent/namespaces.json || fail "the agent's state is not on the tmpfs"

status() { lab exec host1 -- "$NSAGENT" status --json; }
scrape() { lab exec host1 -- curl -sf --max-time 5 http://127.0.0.1:9470/metrics; }
metric() { scrape | awk -v s="$1" '$1 == s {print $2}'; }
pid=$(status | jq -e .pid) || fail "no status"
before=$(status | jq -e .state_save_errors) || fail "status --json has no state_save_errors"
[[ $(metric nsagent_state_save_errors_total) == "$before" ]] ||
	fail "nsagent_state_save_errors_total is not $before: $(scrape | grep state_save)"

# dd ends with ENOSPC once the tmpfs is full.
lab exec host1 -- dd if=/dev/zero of=/var/lib/nsagent/filler bs=4k >/dev/null 2>&1 &&
	fail "dd filled a 256 KiB tmpfs without running out of space"
[[ $(lab exec host1 -- df --output=avail /var/lib/nsagent | tail -1 | tr -d ' ') == 0 ]] ||
	fail "the tmpfs is not full: $(lab exec host1 -- df /var/lib/nsagent)"

set +e
out=$(lab exec host1 -- "$NSAGENT" ns add web 2>&1)
rc=$?
set -e
((rc == 1)) || fail "ns add on a full disk exited $rc (want 1): $out"
[[ $out == *"web"*"/var/lib/nsagent"*"No space left on device"* ]] ||
	fail "ns add on a full disk did not name the cause: $out"
[[ $out != *"no free address"* ]] || fail "a full disk was reported as a full subnet: $out"
lab agent host1 log | grep_q "cannot write /var/lib/nsagent/namespaces.json.tmp: No space left on device" ||
	fail "the agent's log does not name the file that could not be written"

[[ $(status | jq -e .pid) == "$pid" ]] || fail "the agent did not keep running"
after=$(status | jq -e .state_save_errors)
((after > before)) || fail "state_save_errors did not grow ($before -> $after)"
[[ $(metric nsagent_state_save_errors_total) == "$after" ]] ||
	fail "nsagent_state_save_errors_total is not $after: $(scrape | grep state_save)"
status | jq -e '.namespaces | map(select(.name == "web")) | length == 0' >/dev/null ||
	fail "web is in status although it was not recorded"
lab exec host1 -- ip netns list | grep_q '^web\b' && fail "web was made although it was not recorded"

lab exec host1 -- rm /var/lib/nsagent/filler
out=$(lab exec host1 -- "$NSAGENT" ns add web) || fail "ns add with room again: $out"
[[ $out == "added namespace web with address 172.16.0.4/24 and fd6e:7361:6765::4/64" ]] ||
	fail "ns add said: $out"
lab ping --timeout 10 host1 NS1 172.16.0.4 || fail "NS1 cannot reach web"
[[ $(status | jq -e .state_save_errors) == "$after" ]] || fail "a good save was counted as failed"
lab agent host1 restart -- --metrics 127.0.0.1:9470 || fail "agent restart"
status | jq -e '.namespaces | map(select(.name == "web"))[0].ip == "172.16.0.4"' >/dev/null ||
	fail "web was not persisted: $(status)"
echo PASS
