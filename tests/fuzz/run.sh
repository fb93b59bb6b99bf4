#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a
# bounded time on a scratch copy of its seed corpus. A crash fails the run;
# its input is copied to tests/fuzz/regressions/<target>/ so that, once
# fixed, it is replayed by the unit tests (fuzz_replay_*) forever after.
#
# Usage: tests/fuzz/run.sh [TARGET...]       (default: every fuzz_*.c)
# NSAGENT_FUZZ_TIME      seconds per target (default 60)
# NSAGENT_FUZZ_BUILD_DIR build directory (default build-fuzz/)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
build=${NSAGENT_FUZZ_BUILD_DIR:-$repo/build-fuzz}
time=${NSAGENT_FUZZ_TIME:-60}
# A fixed seed makes a run repeatable (the same mutations in the same
# order); set NSAGENT_FUZZ_SEED=0 for a random one when hunting.
seed=${NSAGENT_FUZZ_SEED:-1}
targets=("$@")
if ((${#targets[@]} == 0)); then
	for f in "$repo"/tests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi

CC=clang cmake -S "$repo" -B "$build" -DNSAGENT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target "${targets[@]}" >/dev/null

work=$(mktemp -d /tmp/nsagent-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
rc=0
for t in "${targets[@]}"; do
	mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
	cp "$repo/tests/fuzz/corpus/$t"/* "$work/$t/corpus/" 2>/dev/null || true
	echo "fuzz: $t for ${time}s"
	if ! ASAN_OPTIONS=detect_leaks=1 "$build/tests/$t" -max_total_time="$time" -timeout=10 \
		-seed="$seed" \
		-rss_limit_mb=1024 -max_len=65600 -print_final_stats=1 \
		-artifact_prefix="$work/$t/artifacts/" "$work/$t/corpus" \
		>"$work/$t/log" 2>&1; then
		echo "fuzz: $t FAILED; last lines:" >&2
		tail -n 30 "$work/$t/log" >&2
		mkdir -p "$repo/tests/fuzz/regressions/$t"
		cp "$work/$t/artifacts"/* "$repo/tests/fuzz/regressions/$t/" 2>/dev/null || true
		echo "fuzz: crashing inputs copied to tests/fuzz/regressions/$t/" >&2
		rc=1
		continue
	fi
	grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$work/$t/log" | tr '\n' ' '
	echo
done
exit "$rc"
