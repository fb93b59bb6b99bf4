# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the --routing bgp scenarios (sourced after lib.sh and
# peers_lib.sh). Each lab host runs its own BIRD with its config at the
# host's /etc/nsagent/bird.conf and its control socket and pid file under
# the host's private /run; `lab down` ends every process of the host.
# Node i (hostI) is 192.168.1.(4+i) with subnet 172.16.(i-1).0/24.
# shellcheck shell=bash

command -v bird >/dev/null || fail "bird (Debian's bird2) is not installed: deploy/deps.sh"

BGP_INCLUDE=/etc/nsagent/bird-nsagent.conf # the host's /etc/nsagent is its own
# The BFD timers bird.c renders (and deploy/bird/rr.conf repeats): a peer
# that stops answering is down after BGP_BFD_MULTIPLIER intervals.
# shellcheck disable=SC2034 # read by the tests that source this
BGP_BFD_INTERVAL_MS=100
# shellcheck disable=SC2034
BGP_BFD_MULTIPLIER=5

# bird_on HOST ARGS...: birdc ARGS on HOST's BIRD.
bird_on() { lab exec "$1" -- birdc -s /run/bird/bird.ctl "${@:2}"; }

# start_bird HOST: BIRD on HOST with the host's bird.conf.
start_bird() {
	lab exec "$1" -- sh -c 'mkdir -p /run/bird &&
		bird -c /etc/nsagent/bird.conf -s /run/bird/bird.ctl -P /run/bird/bird.pid' ||
		fail "$1: bird does not start"
}

# kill_bird HOST: SIGKILL to HOST's BIRD, and wait until it is gone.
kill_bird() {
	lab exec "$1" -- sh -c 'pid=$(cat /run/bird/bird.pid) && kill -KILL "$pid" &&
		while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done' || fail "$1: cannot kill bird"
}

# bgp_reflector HOST CONF: HOST's bird.conf is deploy/bird/CONF as it is.
bgp_reflector() {
	echo "include \"$NSAGENT_SOURCE_DIR/deploy/bird/$2\";" >"/run/nsagent-lab/$NSAGENT_LAB/$1/etc/bird.conf"
}

# bgp_agent HOST start|restart FLAGS...: HOST's agent in bgp mode with
# FLAGS after the lab's own ones (node IP and subnet of the lab's
# numbering; no --peer).
bgp_agent() {
	local h=$1 i=${1#host}
	lab agent "$h" "$2" --bare -- --node-ip "192.168.1.$((4 + i))" \
		--subnet "172.16.$((i - 1)).0/24" --routing bgp --bird-config "$BGP_INCLUDE" \
		--bird-socket /run/bird/bird.ctl --probe-interval off "${@:3}" \
		>/dev/null || fail "$h: agent does not $2 in bgp mode"
}

# bgp_node HOST FLAGS...: HOST's bird.conf is nsagent's include alone, and
# its agent starts in bgp mode (bgp_agent) with FLAGS.
bgp_node() {
	echo "include \"$BGP_INCLUDE\";" >"/run/nsagent-lab/$NSAGENT_LAB/$1/etc/bird.conf"
	bgp_agent "$1" start "${@:2}"
}

# bgp_nodes_start NODES... -- FLAGS...: on each node (host numbers), its
# agent (bgp_node with FLAGS), then its BIRD.
bgp_nodes_start() {
	local nodes=() i
	while [[ $1 != -- ]]; do nodes+=("$1"); shift; done
	shift
	for i in "${nodes[@]}"; do
		bgp_node "host$i" "$@"
		start_bird "host$i"
	done
}

# bird_routes HOST: the IPv4 routes BIRD installed on HOST, "dst via gw".
bird_routes() { lab exec "$1" -- ip -4 route show proto bird | awk '{print $1, $2, $3}' | sort; }

# want_routes HOST NODES...: the routes node HOST should have, from NODES
# (host numbers) other than itself.
want_routes() {
	local i=${1#host} j
	for j in "${@:2}"; do
		((j == i)) || echo "172.16.$((j - 1)).0/24 via 192.168.1.$((4 + j))"
	done | sort
}

# has_routes HOST NODES...: HOST has exactly the routes of NODES.
has_routes() { [[ $(bird_routes "$1") == "$(want_routes "$@")" ]]; }

# bgp_established HOST: HOST's BGP sessions in the established state.
bgp_established() {
	lab exec "$1" -- ss -Htn state established '( dport = :179 or sport = :179 )' | grep -c . || true
}

# reaches_all NODES...: NS1 of every node in NODES pings NS1 of every
# other, every ordered pair; the sources in parallel (one lab exec each).
reaches_all() {
	local a b pids=() dsts rc=0
	for a in "$@"; do
		dsts=()
		for b in "$@"; do ((a == b)) || dsts+=("172.16.$((b - 1)).2"); done
		lab exec "host$a" NS1 -- sh -c 'for d; do ping -n -c 1 -W 2 "$d" >/dev/null ||
			{ echo "NS1@$0 cannot reach NS1 at $d" >&2; exit 1; }; done' "host$a" "${dsts[@]}" &
		pids+=($!)
	done
	for b in "${pids[@]}"; do wait "$b" || rc=1; done
	return "$rc"
}

# bgp_ready SESSIONS NODES...: every node of NODES has the others' routes
# and SESSIONS BGP sessions established.
bgp_ready() {
	local want=$1 i
	shift
	for i in "$@"; do
		has_routes "host$i" "$@" || return 1
		[[ $(bgp_established "host$i") == "$want" ]] || return 1
	done
}

# bfd_up HOST ADDR...: HOST's BIRD has an Up BFD session with each ADDR.
# BIRD asks for a session's BFD only once the session is established, so
# a session can be up before its BFD is: a test that kills a node waits
# for this first, or the reflectors notice the death only at BGP's hold
# time (240 s).
bfd_up() {
	local sessions a
	sessions=$(bird_on "$1" show bfd sessions) || return 1
	for a in "${@:2}"; do
		grep -Eq "^${a//./\\.}[[:space:]].*[[:space:]]Up[[:space:]]" <<<"$sessions" || return 1
	done
}

# bird_filtered HOST PREFIX...: HOST's BIRD holds each PREFIX among the
# routes its import filters refused (import keep filtered).
bird_filtered() {
	local out p
	out=$(bird_on "$1" show route filtered) || return 1
	for p in "${@:2}"; do
		grep_q "^${p//./\\.} " <<<"$out" || return 1
	done
}
