#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A suite that passes once may still flake: under load, events come in
# another order and deadlines tighten. This runs the suite N times in a
# row with a CPU hog beside it (one busy loop per hog CPU, or stress-ng
# when installed) and reports, per test, in how many runs it failed.
#
# Usage: tests/flake_loop.sh [-n RUNS] [--hog CPUS] [--build DIR] [CTEST ARGS...]
#   -n RUNS      runs in a row (default 5)
#   --hog CPUS   busy CPUs beside the suite (default 2; 0 = no hog)
#   --build DIR  run ctest in this existing build dir (as tests/run would,
#                same sanitizer options) instead of tests/run, the command
#                CI runs (.ci/run), which also checks packages and builds
#   CTEST ARGS   passed on, e.g. -R 'lab_test_(peers|sec)_' or -L lab
# Each run's output is kept in a directory named at the end. Exit 0 only
# when every run passed. Needs root (the suite's kernel and lab tests).
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
runs=5 hog_cpus=2 build=
while (($#)); do
	case $1 in
	-n) runs=${2:?-n needs a number}; shift 2 ;;
	--hog) hog_cpus=${2:?--hog needs a number of CPUs}; shift 2 ;;
	--build) build=$(cd "${2:?--build needs a directory}" && pwd); shift 2 ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "flake_loop: -n takes a positive number, not '$runs'" >&2; exit 2; }
[[ $hog_cpus =~ ^[0-9]+$ ]] || { echo "flake_loop: --hog takes a number of CPUs, not '$hog_cpus'" >&2; exit 2; }
if [[ -n $build && ! -f $build/CTestTestfile.cmake ]]; then
	echo "flake_loop: $build is not a configured build dir (no CTestTestfile.cmake)" >&2
	exit 2
fi

out=$(mktemp -d /tmp/nsagent-flake-loop.XXXXXX)
hog_pids=()
stop_hog() {
	local pid
	# only the processes started here, by their ids
	for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${hog_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	hog_pids=()
}
trap stop_hog EXIT
trap 'exit 130' INT TERM

if ((hog_cpus > 0)); then
	if command -v stress-ng >/dev/null; then
		stress-ng --cpu "$hog_cpus" --quiet >"$out/hog.log" 2>&1 &
		hog_pids+=($!)
		hog="stress-ng --cpu $hog_cpus"
	else
		for ((i = 0; i < hog_cpus; i++)); do
			bash -c 'while :; do :; done' &
			hog_pids+=($!)
		done
		hog="$hog_cpus busy loop(s)"
	fi
else
	hog="none"
fi

# One run: the suite's output in $out/run-I.log, its exit status returned.
run_suite() {
	local log=$1
	shift
	if [[ -z $build ]]; then
		"$repo/tests/run" "$@" >"$log" 2>&1
	else
		(
			cd "$build"
			export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1}
			export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
			exec ctest --output-on-failure -j "${NSAGENT_TEST_JOBS:-2}" "$@"
		) >"$log" 2>&1
	fi
}

declare -A failed_in=()
bad_runs=0
what=tests/run
[[ -z $build ]] || what="ctest in $build"
echo "flake_loop: $runs run(s) of $what${*:+ $*}; CPU hog: $hog; logs in $out"
for ((run = 1; run <= runs; run++)); do
	log=$out/run-$run.log
	start=$SECONDS
	rc=0
	run_suite "$log" "$@" || rc=$?
	# ctest lists the failed tests after "The following tests FAILED:",
	# one "  NN - NAME (Failed|Timeout|...)" line each.
	names=$(sed -n '/^The following tests FAILED:/,$ s/^[[:space:]]*[0-9]\+ - \([^ ]*\) (.*/\1/p' "$log")
	summary=$(grep -E '^[0-9]+% tests passed' "$log" || true)
	if ((rc != 0)); then
		bad_runs=$((bad_runs + 1))
		[[ -n $names ]] || names="(no test named: the run itself failed, see $log)"
	fi
	while read -r name; do
		[[ -n $name ]] || continue
		failed_in[$name]+=" $run"
	done <<<"$names"
	echo "run $run/$runs: exit $rc in $((SECONDS - start)) s: ${summary:-no ctest summary}${names:+; failed: $(paste -sd' ' <<<"$names")}"
done
stop_hog

echo "flake_loop: $((runs - bad_runs)) of $runs run(s) passed (CPU hog: $hog)"
if ((${#failed_in[@]} > 0)); then
	echo "failures per test (in runs):"
	for name in "${!failed_in[@]}"; do
		read -ra in_runs <<<"${failed_in[$name]}"
		printf '  %-40s %d of %d (runs%s)\n' "$name" "${#in_runs[@]}" "$runs" "${failed_in[$name]}"
	done | sort
fi
echo "logs: $out"
((bad_runs == 0))
