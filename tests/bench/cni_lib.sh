# SPDX-License-Identifier: GPL-2.0-or-later
# tests/bench/cni_lib.sh — a CNI plugin called the way a runtime calls it
# (sourced after lib.sh, in the inside half of a benchmark: in a lab host).
#
# DOC: A container runtime (libcni, as podman and containerd use it) runs a
# plugin binary found by its "type" in CNI_PATH with the parameters in the
# environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
# CNI_PATH) and the network configuration on stdin; for a conflist it runs
# the plugins in order for ADD, each given the list's "cniVersion" and
# "name" and the previous plugin's result as "prevResult", and in reverse
# order for DEL, each given the ADD result (libcni's cached result,
# CNI >= 0.4.0). cni_exec does exactly that, so a benchmark times what a
# runtime would wait for, without a runtime's own cost around it.
#
# cni_bench LABEL CONFLIST N RUNS times N ADDs at once, each into a fresh
# network namespace of its own, then N DELs at once, RUNS times, and
# prints the median and 90th percentile per command (cni_bench_run is one
# such run, so that plugins can take turns; cni_report prints). Every call
# must succeed, every ADD must return an address, the N addresses of a run
# must differ from each other and from every other address in the host,
# and after DEL no namespace may still hold its interface: otherwise the
# benchmark fails, whatever the times.
#
# Plugins are looked up in CNI_BENCH_PATH (default: $BENCH_TMP/cni-bin,
# then /usr/lib/cni), so a benchmark can put its own plugin first.
# shellcheck shell=bash

# cni_path: the plugin search path (CNI_PATH), read when a plugin runs:
# BENCH_TMP exists only once the benchmark has started.
cni_path() { echo "${CNI_BENCH_PATH:-$BENCH_TMP/cni-bin:/usr/lib/cni}"; }

# cni_plugin TYPE: the plugin's path in CNI_BENCH_PATH.
cni_plugin() {
	local dir path
	local -a dirs
	path=$(cni_path)
	IFS=: read -r -a dirs <<<"$path"
	for dir in "${dirs[@]}"; do
		[[ -x $dir/$1 ]] && echo "$dir/$1" && return 0
	done
	echo "no CNI plugin '$1' in $path" >&2
	return 1
}

# cni_exec COMMAND CONFLIST CONTAINERID NETNS IFNAME RESULT_FILE: runs the
# conflist's plugins for COMMAND (ADD or DEL) as libcni does (see above).
# ADD writes the last plugin's result to RESULT_FILE, DEL reads it. Sets
# CNI_EXEC_US to the time spent in the plugins (µs; the glue between them
# is not counted). On failure it prints the plugin's error and returns 1.
# It is cni_prepare (everything a runtime knows before it runs a plugin:
# the plugins' paths and configs, jq's work) and then cni_run.
cni_exec() {
	cni_prepare "$1" "$2" "$6" && cni_run "$@"
}

# cni_prepare COMMAND CONFLIST RESULT_FILE: CNI_PLUGINS (paths) and
# CNI_CONFS (stdin of each), in the order COMMAND runs them. For ADD only
# the first config is final: the next ones get the previous result when it
# is there (cni_run); DEL's all carry RESULT_FILE as prevResult.
cni_prepare() {
	local cmd=$1 conflist=$2 result=$3 n i prev='' type plugin conf
	CNI_PLUGINS=() CNI_CONFS=() CNI_TYPES=()
	n=$(jq '.plugins | length' "$conflist") || return 1
	[[ $cmd == ADD ]] || prev=$(<"$result") || return 1
	for ((i = 0; i < n; i++)); do
		type=$(jq -r ".plugins[$i].type" "$conflist") || return 1
		CNI_TYPES+=("$type")
		plugin=$(cni_plugin "$type") || return 1
		conf=$(jq -c --argjson i "$i" --arg prev "$prev" '.plugins[$i] + {cniVersion, name} +
			(if $prev == "" then {} else {prevResult: ($prev | fromjson)} end)' "$conflist") || return 1
		CNI_PLUGINS+=("$plugin")
		CNI_CONFS+=("$conf")
	done
	if [[ $cmd != ADD ]]; then
		local -a rev_plugins=() rev_confs=() rev_types=()
		for ((i = n - 1; i >= 0; i--)); do
			rev_plugins+=("${CNI_PLUGINS[i]}") rev_confs+=("${CNI_CONFS[i]}") rev_types+=("${CNI_TYPES[i]}")
		done
		CNI_PLUGINS=("${rev_plugins[@]}") CNI_CONFS=("${rev_confs[@]}") CNI_TYPES=("${rev_types[@]}")
	fi
}

# cni_run COMMAND CONFLIST CONTAINERID NETNS IFNAME RESULT_FILE: the plugins
# cni_prepare chose, timed (CNI_EXEC_US). In a chained ADD each plugin after
# the first gets the previous result (jq, not timed).
cni_run() {
	local cmd=$1 id=$3 netns=$4 ifname=$5 result=$6 i conf out rc t0 path prev=''
	path=$(cni_path)
	CNI_EXEC_US=0
	for i in "${!CNI_PLUGINS[@]}"; do
		conf=${CNI_CONFS[i]}
		if [[ $cmd == ADD && -n $prev ]]; then
			conf=$(jq -c --argjson prev "$prev" '. + {prevResult: $prev}' <<<"$conf") || return 1
		fi
		rc=0
		t0=${EPOCHREALTIME/./}
		out=$(CNI_COMMAND=$cmd CNI_CONTAINERID=$id CNI_NETNS=$netns CNI_IFNAME=$ifname \
			CNI_PATH=$path "${CNI_PLUGINS[i]}" <<<"$conf") || rc=$?
		CNI_EXEC_US=$((CNI_EXEC_US + ${EPOCHREALTIME/./} - t0))
		if ((rc != 0)); then
			echo "CNI $cmd of $id: plugin ${CNI_TYPES[i]} exited $rc: $out" >&2
			return 1
		fi
		[[ $cmd != ADD ]] || prev=$out
	done
	[[ $cmd != ADD ]] || echo "$prev" >"$result"
}

# percentile P V...: the P-th percentile of the values (nearest rank).
percentile() {
	local p=$1
	shift
	printf '%s\n' "$@" | sort -n | awk -v p="$p" '{v[NR] = $1} END {
		if (NR == 0) { print "nan"; exit }
		r = int((p * NR + 99) / 100); if (r < 1) r = 1; print v[r] }'
}

# cni_parallel COMMAND CONFLIST N DIR: COMMAND for netns cnib-1..N at once
# (each worker prepares its calls, cni_prepare, then parks itself with
# SIGSTOP; one kill -CONT releases them all, so that no worker's jq runs
# while the others' plugins are timed). Worker I writes "µs address" to
# DIR/COMMAND.I (the address read once all are done), or its error to
# DIR/COMMAND.I.err.
cni_parallel() {
	local cmd=$1 conflist=$2 n=$3 dir=$4 i pids=() failed=0 us addr
	for ((i = 1; i <= n; i++)); do
		(
			cni_prepare "$cmd" "$conflist" "$dir/result.$i" 2>"$dir/$cmd.$i.err" || exit 1
			kill -STOP "$BASHPID"
			if cni_run "$cmd" "$conflist" "cnib-$i" "/run/netns/cnib-$i" eth0 "$dir/result.$i" \
				2>"$dir/$cmd.$i.err"; then
				echo "$CNI_EXEC_US" >"$dir/$cmd.$i"
			fi
		) &
		pids+=("$!")
	done
	poll_until 30 all_stopped "${pids[@]}" || bench_fail "CNI workers did not park: $(cat "$dir/$cmd".*.err)"
	kill -CONT "${pids[@]}"
	for i in "${!pids[@]}"; do wait "${pids[i]}" || failed=1; done
	for ((i = 1; i <= n; i++)); do
		[[ -s $dir/$cmd.$i ]] || bench_fail "CNI $cmd in cnib-$i failed: $(cat "$dir/$cmd.$i.err")"
		[[ $cmd == ADD ]] || continue
		read -r us <"$dir/$cmd.$i"
		addr=$(jq -r '.ips[0].address // empty' "$dir/result.$i")
		echo "$us $addr" >"$dir/$cmd.$i"
	done
	((!failed)) || bench_fail "a CNI $cmd worker failed"
}

# CNI_US["LABEL COMMAND N"]: the times (µs, space-separated) of every call
# cni_bench_run made so far.
declare -gA CNI_US=()

# cni_bench_run LABEL CONFLIST N RUN: one run of cni_bench (see the header);
# the times go to CNI_US.
cni_bench_run() {
	local label=$1 conflist=$2 n=$3 r=$4 i dir us addr shown
	local -a addrs=()
	dir=$BENCH_TMP/cni.$label.$n.$r
	mkdir -p "$dir"
	for ((i = 1; i <= n; i++)); do
		ip netns add "cnib-$i" || bench_fail "ip netns add cnib-$i"
	done
	cni_parallel ADD "$conflist" "$n" "$dir"
	for ((i = 1; i <= n; i++)); do
		read -r us addr <"$dir/ADD.$i"
		[[ -n $addr ]] || bench_fail "ADD in cnib-$i returned no address: $(cat "$dir/result.$i")"
		shown=$(ip -n "cnib-$i" -o addr show dev eth0)
		[[ $shown == *" inet $addr "* || $shown == *" inet6 $addr "* ]] ||
			bench_fail "cnib-$i: eth0 lacks $addr, which ADD returned"
		CNI_US["$label add $n"]+=" $us"
		addrs+=("$addr")
	done
	(($(printf '%s\n' "${addrs[@]}" | sort -u | wc -l) == n)) ||
		bench_fail "$label: $n ADDs returned duplicate addresses: ${addrs[*]}"
	cni_addresses_unique "$label"
	cni_parallel DEL "$conflist" "$n" "$dir"
	for ((i = 1; i <= n; i++)); do
		read -r us _ <"$dir/DEL.$i"
		CNI_US["$label del $n"]+=" $us"
		! ip -n "cnib-$i" link show eth0 >/dev/null 2>&1 ||
			bench_fail "cnib-$i still has eth0 after DEL"
		ip netns del "cnib-$i"
	done
	[[ -n ${BENCH_KEEP:-} ]] || rm -rf "$dir"
}

# cni_addresses_unique LABEL: no IPv4 address is held twice in this host:
# the ADDs' addresses differ from each other and from everything else here
# (bridges, the agent's namespaces), whoever assigned them.
cni_addresses_unique() {
	local dups
	dups=$({
		ip -4 -o addr show scope global
		ip -all netns exec ip -4 -o addr show scope global
	} 2>/dev/null | awk '$3 == "inet" {sub("/.*", "", $4); print $4}' | sort | uniq -d)
	[[ -z $dups ]] || bench_fail "$1: an address is held twice in the host: $dups"
}

# cni_bench LABEL CONFLIST N RUNS: see the header.
cni_bench() {
	local label=$1 conflist=$2 n=$3 runs=$4 r
	for ((r = 1; r <= runs; r++)); do
		cni_bench_run "$label" "$conflist" "$n" "$r"
	done
	cni_report "$label" "$n"
}

# cni_report LABEL N: its two lines of figures (ADD, DEL) from CNI_US.
cni_report() {
	local cmd
	local -a us
	for cmd in add del; do
		read -r -a us <<<"${CNI_US["$1 $cmd $2"]}"
		cni_stats "$1" "$cmd" "$2" "${us[@]}"
	done
}

# cni_median_us LABEL COMMAND N: the median of CNI_US (µs).
cni_median_us() {
	local -a us
	read -r -a us <<<"${CNI_US["$1 $2 $3"]}"
	median "${us[@]}"
}
# cni_stats LABEL COMMAND N US...: one line of figures, and its RESULT line.
cni_stats() {
	local label=$1 cmd=$2 n=$3 med p90
	shift 3
	med=$(ms "$(median "$@")")
	p90=$(ms "$(percentile 90 "$@")")
	printf '%-12s %8s %5s %8s %10s %10s %12s\n' "$label" "$cmd" "$n" "$#" "$med" "$p90" "$(spread "$@")"
	echo "RESULT cni plugin=$label cmd=$cmd parallel=$n calls=$# median_ms=$med p90_ms=$p90"
}

# cni_bench_header: the column heads of cni_bench's lines.
cni_bench_header() {
	printf '%-12s %8s %5s %8s %10s %10s %12s\n' plugin command N calls "median ms" "p90 ms" "min-max ms"
}
