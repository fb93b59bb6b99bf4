#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The CNI plugin under a real client: podman (Debian's, CNI backend, runc)
# on two lab hosts runs containers on the nsagent network with the shipped
# deploy/cni/10-nsagent.conflist, and the cluster behaves as issue 14 says:
#   - a web server in a container on host1 (busybox httpd; a CGI prints
#     REMOTE_ADDR, the source address the server saw) is reached from a
#     container on host2 and from NS1 on host2, each seen with its own
#     address (no NAT inside the cluster);
#   - dual-stack (the default): each container also has an address of its
#     node's IPv6 /64 (podman's view, status --json, `ip` inside) and an
#     IPv6 default route via the bridge, and a web server in a container
#     on host1 listening on IPv6 is reached over IPv6 from the container on
#     host2, which it sees with its own IPv6 address; a full-size IPv6
#     ping crosses too;
#   - containers get addresses from their own node's subnet, distinct from
#     the namespaces' (podman's view, status --json .attachments against
#     .namespaces, and `ip` inside the container);
#   - the attachment survives an agent restart: same address, same veth
#     (ifindex, both ends), no kernel change by the restarted agent
#     (reconcile_changes 0), and a ping stream from host2 through the
#     restart has every echo answered;
#   - six containers started at once get six distinct addresses;
#   - `podman rm` leaves no veth, address or status entry behind: host ends
#     gone, .attachments empty, the addresses free again (the next
#     container gets the lowest one back);
#   - with no agent, `podman run` fails within seconds and says the agent is
#     unreachable, naming the socket.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/podman_lib.sh"
source "$(dirname "$0")/peers_lib.sh"
: "${NSAGENT_CNI:?NSAGENT_CNI must name the nsagent-cni binary (ctest sets it)}"

lab_init cnipodman
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cni-podman.XXXXXX")
lab_at_exit "[[ ! -s '$tmp/ping.pid' ]] || kill \$(cat '$tmp/ping.pid') 2>/dev/null; rm -rf '$tmp'"
lab up --hosts 2 >/dev/null || fail "deploy/lab up"
ln -s "$NSAGENT_CNI" "$PODMAN_CNI_BIN/nsagent"
conflist=$NSAGENT_SOURCE_DIR/deploy/cni/10-nsagent.conflist
podman_setup host1 "$conflist" &
setup1=$!
podman_setup host2 "$conflist" &
setup2=$!
if ! wait "$setup1" || ! wait "$setup2"; then fail "podman_setup failed (see above)"; fi

# One root file system for every container: busybox, and a CGI script that
# answers with the address the request came from.
rootfs=$(podman_rootfs)
podman_web "$rootfs"

# run HOST NAME CMD...: a detached container on the nsagent network; its
# id goes to $tmp/NAME.id (run may be a background job).
run() {
	local host=$1 name=$2
	shift 2
	pod "$host" run -d --name "$name" --rootfs "$rootfs" "$@" >"$tmp/$name.id" ||
		fail "podman run $name on $host failed"
}

# seen_from_container HOST CONTAINER SERVER: the source address SERVER saw.
seen_from_container() { pod "$1" exec "$2" sh -c "$PODMAN_HTTP_GET" "$3"; }
# seen_from_ns HOST NS SERVER: the same from a namespace of the agent's.
seen_from_ns() { lab exec "$1" "$2" -- /bin/busybox sh -c "$PODMAN_HTTP_GET" "$3"; }
# expect_seen SECONDS ADDR FN ARGS...: FN (a seen_from_*) gets an answer
# within SECONDS, and the answer is ADDR.
expect_seen() {
	local deadline=$((SECONDS + $1)) want=$2 seen=
	shift 2
	until seen=$("$@" 2>/dev/null) && [[ -n $seen ]]; do
		((SECONDS < deadline)) || fail "no answer from web within $1 s: $*"
		sleep 0.2
	done
	[[ $seen == "$want" ]] || fail "web saw '$seen', not $want: $* (NAT inside the cluster?)"
}

# attachment_of HOST NAME [STATUS]: the agent's status entry of a container
# run here (from STATUS, HOST's status --json, when given).
attachment_of() {
	local st=${3:-$(status_json "$1")}
	jq -ce --arg id "$(cat "$tmp/$2.id")" '.attachments[] | select(.container_id == $id)' <<<"$st"
}
# addresses HOST NAME...: "NAME ADDRESS" per container, as podman says.
addresses() {
	local host=$1
	shift
	pod "$host" inspect --format '{{.Name}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$@"
}
# address6 HOST NAME: the container's IPv6 address, as podman says.
address6() {
	pod "$1" inspect --format '{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}' "$2"
}
# in_netns HOST NETNS CMD...: CMD in a container's netns, seen from HOST.
in_netns() {
	local host=$1 netns=$2
	shift 2
	lab exec "$host" -- nsenter --net="$netns" "$@"
}
# routed HOST SUBNET: HOST has the agent's route to SUBNET.
routed() { [[ -n $(lab exec "$1" -- ip -4 route show "$2" proto nsagent) ]]; }
ifindex() { lab exec "$1" -- cat "/sys/class/net/$2/ifindex"; }

# ---- a web server on host1, a client on host2 ----
run host1 web httpd -f -p 0.0.0.0:80 -h /www &
pid1=$!
run host2 client sleep 3600 &
pid2=$!
if ! wait "$pid1" || ! wait "$pid2"; then fail "starting the first containers failed"; fi
read -r _ web_ip < <(addresses host1 web)
read -r _ client_ip < <(addresses host2 client)

# Each from its own node's subnet, none a namespace's or the bridge's;
# podman, the agent and the container's own `ip` agree.
[[ $web_ip == 172.16.0.* ]] || fail "web on host1 got '$web_ip', not in host1's 172.16.0.0/24"
[[ $client_ip == 172.16.1.* ]] || fail "client on host2 got '$client_ip', not in host2's 172.16.1.0/24"
for h in host1:web:"$web_ip" host2:client:"$client_ip"; do
	IFS=: read -r host name ip <<<"$h"
	st=$(status_json "$host")
	jq -e --arg ip "$ip" '[.namespaces[].ip] | index($ip) == null' <<<"$st" >/dev/null ||
		fail "$name on $host got $ip, a namespace's address: $(jq -c .namespaces <<<"$st")"
	at=$(attachment_of "$host" "$name" "$st") || fail "$host's status lacks $name: $(jq -c .attachments <<<"$st")"
	jq -e --arg ip "$ip" '.ip == $ip and .ifname == "eth0" and .origin == "cni" and
		.netns_gone == false' <<<"$at" >/dev/null || fail "$host's status of $name: $at"
	inside=$(pod "$host" exec "$name" sh -c 'ip -4 -o addr show dev eth0; ip -4 route show default')
	grep_q " inet $ip/24 " <<<"$inside" || fail "eth0 in $name lacks $ip/24: $inside"
	grep_q "^default via ${ip%.*}.1 dev eth0" <<<"$inside" ||
		fail "$name has no default route via its bridge ${ip%.*}.1: $inside"
done

# The web server sees each client's own address (polled: httpd may still
# be starting when podman returns).
ns1_ip=$(status_json host2 | jq -r '.namespaces[] | select(.name == "NS1") | .ip')
expect_seen 30 "$client_ip" seen_from_container host2 client "$web_ip"
expect_seen 30 "$ns1_ip" seen_from_ns host2 NS1 "$web_ip"
echo "ok: web on host1 ($web_ip) saw the container on host2 as $client_ip and NS1 on host2 as $ns1_ip"

# ---- IPv6: the same containers, dual-stack ----
for h in host1:web host2:client; do
	IFS=: read -r host name <<<"$h"
	ip6=$(address6 "$host" "$name")
	st=$(status_json "$host")
	subnet6=$(jq -r .node.subnet6 <<<"$st")
	[[ $ip6 == "${subnet6%::/64}":* ]] || fail "$name on $host has IPv6 '$ip6', not in $host's $subnet6"
	at=$(attachment_of "$host" "$name" "$st")
	[[ $(jq -r .ip6 <<<"$at") == "$ip6" ]] || fail "$host's status of $name has ip6 $(jq -r .ip6 <<<"$at"), podman $ip6"
	inside=$(pod "$host" exec "$name" sh -c 'ip -6 -o addr show dev eth0 scope global; ip -6 route show default')
	grep_q " inet6 $ip6/64 " <<<"$inside" || fail "eth0 in $name lacks $ip6/64: $inside"
	grep_q "^default via $(jq -r .node.bridge_ip6 <<<"$st") dev eth0" <<<"$inside" ||
		fail "$name has no IPv6 default route via its bridge: $inside"
	case $name in
	web) web_ip6=$ip6 ;;
	client) client_ip6=$ip6 ;;
	esac
done
run host1 web6 httpd -f -p '[::]:80' -h /www
read -r web6_ip6 < <(address6 host1 web6)
# busybox httpd gives an IPv6 REMOTE_ADDR in brackets.
expect_seen 30 "[$client_ip6]" seen_from_container host2 client "$web6_ip6"
mtu=$(pod host2 exec client cat /sys/class/net/eth0/mtu)
# busybox ping has no -M: a packet of the link's MTU leaves unfragmented,
# and no router fragments IPv6.
pod host2 exec client ping -6 -c 1 -W 5 -s $((mtu - 48)) "$web_ip6" >"$tmp/ping6" 2>&1 ||
	fail "no full-size ($mtu) IPv6 ping from client on host2 to web on host1 ($web_ip6): $(cat "$tmp/ping6")"
pod host1 rm -f -t 0 web6 >/dev/null || fail "podman rm web6"
echo "ok: over IPv6, web6 on host1 ($web6_ip6) saw the container on host2 as $client_ip6; a full-size ($mtu) ping crossed"

# ---- an agent restart leaves the attachment as it is ----
web_at=$(attachment_of host1 web) || fail "host1's status lacks web"
web_host_if=$(jq -r .host_ifname <<<"$web_at")
web_netns=$(jq -r .netns <<<"$web_at")
# link_of HOST NETNS: "IFINDEX PEER-IFINDEX" of eth0 in a container's netns.
link_of() { in_netns "$1" "$2" ip -o link show dev eth0 | sed -n 's/^\([0-9]*\): eth0@if\([0-9]*\):.*/\1 \2/p'; }
host_idx=$(ifindex host1 "$web_host_if") || fail "web's host end $web_host_if is not on host1"
cont_link=$(link_of host1 "$web_netns")
[[ $cont_link == *" $host_idx" ]] || fail "web's eth0 ($cont_link) is not the peer of $web_host_if ($host_idx)"

# A ping stream from NS1 on host2 to web through the restart: every echo
# sent until the last answered one is answered (icmp_seq 1..last, no gap),
# and the answers span the restart.
lab exec host2 NS1 -- sh -c 'echo $$ >"$0/ping.pid"; exec ping -n -D -i 0.01 "$1"' "$tmp" "$web_ip" \
	>"$tmp/ping" 2>&1 &
ping_job=$!
# replies: "TIME SEQ" of every echo reply so far.
replies() { sed -n 's/^\[\([0-9.]*\)\] .* icmp_seq=\([0-9]*\) .*/\1 \2/p' "$tmp/ping"; }
# replied_after T: an echo was answered after T (epoch seconds).
replied_after() { replies | awk -v t="$1" '$1 > t {found = 1} END {exit !found}'; }
poll 30 replied_after 0 || fail "NS1 on host2 gets no ping reply from web: $(cat "$tmp/ping")"
restart_start=$EPOCHREALTIME
lab agent host1 restart >/dev/null || fail "agent restart on host1"
poll 30 peer_is host1 192.168.1.6 state established || fail "host1 has no session with host2 after its restart"
poll 30 routed host1 172.16.1.0/24 || fail "host1 has no route to host2's subnet after its restart"
restart_end=$EPOCHREALTIME
changes=$(counter host1 reconcile_changes) || fail "host1's status has no reconcile_changes"
((changes == 0)) || fail "the restarted agent made $changes kernel change(s) (not adopted as it was)"
at=$(attachment_of host1 web) || fail "host1's status lost web across the restart"
[[ $(jq -r .ip <<<"$at") == "$web_ip" && $(jq -r .host_ifname <<<"$at") == "$web_host_if" ]] ||
	fail "web's attachment changed across the restart: $web_at -> $at"
[[ $(ifindex host1 "$web_host_if") == "$host_idx" ]] ||
	fail "web's host end $web_host_if was re-made (ifindex $host_idx -> $(ifindex host1 "$web_host_if"))"
[[ $(link_of host1 "$web_netns") == "$cont_link" ]] ||
	fail "web's eth0 was re-made (ifindex, peer: $cont_link -> $(link_of host1 "$web_netns"))"
in_netns host1 "$web_netns" ip -4 -o addr show dev eth0 | grep_q " inet $web_ip/24 " ||
	fail "web's eth0 lost $web_ip across the restart"
expect_seen 30 "$client_ip" seen_from_container host2 client "$web_ip"
# Let the stream pass the restart's end, then stop it.
poll 30 replied_after "$restart_end" || fail "no ping reply after the restart: $(tail -3 "$tmp/ping")"
kill -INT "$(cat "$tmp/ping.pid")"
wait "$ping_job" || true
read -r first_t first last n < <(replies | awk 'NR == 1 {t = $1; f = $2} {l = $2; n++} END {print t, f, l, n}')
gaps=$(replies | awk '{if (NR > 1 && $2 != prev + 1) printf "%d-%d ", prev + 1, $2 - 1; prev = $2}')
[[ $first == 1 && -z $gaps && $n == "$last" ]] ||
	fail "echoes lost across the agent restart (first $first, last $last, $n answers, missing: $gaps)"
awk -v a="$first_t" -v b="$restart_start" 'BEGIN {exit !(a < b)}' ||
	fail "the ping stream began after the restart"
echo "ok: an agent restart kept web's address, veth (ifindex $host_idx) and traffic: $n echoes, none lost; $changes kernel changes"

# ---- six containers started at once: six distinct addresses ----
six=(p1 p2 p3 p4 p5 p6)
pids=()
for name in "${six[@]}"; do
	run host1 "$name" sleep 3600 &
	pids+=($!)
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || fail "starting ${six[$i]} failed"; done
mapfile -t six_ips < <(addresses host1 "${six[@]}" | awk '{print $2}')
all_ips=$(printf '%s\n' "${six_ips[@]}" "$web_ip" | grep . | sort)
[[ $(uniq <<<"$all_ips" | wc -l) == 7 ]] ||
	fail "six containers started at once got ${six_ips[*]} (web has $web_ip): not seven distinct addresses"
[[ $(grep -cv '^172\.16\.0\.' <<<"$all_ips") == 0 ]] || fail "a container is outside host1's subnet: ${six_ips[*]}"
# podman's addresses are the agent's and the kernel's, and none is a namespace's.
st=$(status_json host1)
[[ $(jq -r '.attachments[].ip' <<<"$st" | sort) == "$all_ips" ]] ||
	fail "host1's attachments are not podman's ${six_ips[*]} $web_ip: $(jq -c .attachments <<<"$st")"
jq -e '[.namespaces[].ip] as $ns | all(.attachments[].ip; . as $ip | $ns | index($ip) == null)' \
	<<<"$st" >/dev/null || fail "an attachment holds a namespace's address: $st"
mapfile -t netnses < <(jq -r '.attachments[].netns' <<<"$st")
inside=$(lab exec host1 -- sh -c 'for n; do nsenter --net="$n" ip -4 -o addr show dev eth0; done' \
	sh "${netnses[@]}" | awk '{sub("/.*", "", $4); print $4}' | sort)
[[ $inside == "$all_ips" ]] || fail "the containers' eth0 hold '$inside', not podman's ${six_ips[*]} $web_ip"
echo "ok: six containers started at once got ${six_ips[*]}"

# ---- podman rm leaves nothing behind ----
mapfile -t host_ends < <(jq -r '.attachments[].host_ifname' <<<"$st")
pod host1 rm -f -t 0 web "${six[@]}" >/dev/null || fail "podman rm"
st=$(status_json host1)
jq -e '.attachments == []' <<<"$st" >/dev/null ||
	fail "host1's status still lists attachments after podman rm: $(jq -c .attachments <<<"$st")"
links=$(lab exec host1 -- ip -o link show)
for e in "${host_ends[@]}"; do
	! grep_q -E "^[0-9]+: ${e}[@:]" <<<"$links" || fail "podman rm left the host end $e: $links"
done
# Only the namespaces' host ends are left on the bridge.
ports=$(lab exec host1 -- ip -o link show master br0 | awk -F': ' '{sub("@.*", "", $2); print $2}' | sort | xargs)
[[ $ports == "nsa-NS1 nsa-NS2" ]] || fail "br0's ports after podman rm: $ports"
# The addresses are free: the next container gets the lowest, web's.
run host1 again sleep 3600
read -r _ again_ip < <(addresses host1 again)
[[ $again_ip == "$web_ip" ]] || fail "the next container got '$again_ip', not web's freed $web_ip"
pod host1 rm -f -t 0 again >/dev/null || fail "podman rm again"
echo "ok: podman rm removed ${#host_ends[@]} attachments, their veths and addresses"

# ---- no agent: podman run fails within seconds, naming the socket ----
lab agent host1 stop || fail "agent stop on host1"
start=$EPOCHREALTIME
pod host1 run --rm --name noagent --rootfs "$rootfs" true >"$tmp/noagent" 2>&1 &
job=$!
# returned: the podman run above has returned.
returned() { ! kill -0 "$job" 2>/dev/null; }
poll 20 returned || fail "podman run without an agent still runs after 20 s: $(cat "$tmp/noagent")"
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
out=$(cat "$tmp/noagent")
! wait "$job" || fail "podman run succeeded without an agent: $out"
grep_q -F "the nsagent agent is not running or cannot be reached on /run/nsagent/nsagent.sock" <<<"$out" ||
	fail "podman's error does not say the agent is unreachable: $out"
[[ -z $(pod host1 ps -a --format '{{.Names}}') ]] || fail "a failed run left a container: $(pod host1 ps -a)"
echo "ok: without an agent podman run failed in $took s: $(grep -o 'the nsagent agent is not running[^"]*sock' <<<"$out" | head -1)"
echo PASS
