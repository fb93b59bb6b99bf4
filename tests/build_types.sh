#!/usr/bin/env bash
# Every build type compiles warning-free (-Wall -Wextra -Werror): the
# suite itself runs the sanitizer build, and GCC warns differently at
# other optimisation levels (format-truncation at -O0, maybe-uninitialized
# at -O2). Builds Debug and Release, every target, in a throwaway dir.
# Usage: tests/build_types.sh   (ctest label lint)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
work=$(mktemp -d /tmp/nsagent-build-types.XXXXXX)
trap 'rm -rf "$work"' EXIT
for type in Debug Release; do
	if ! cmake -S "$repo" -B "$work/$type" -DCMAKE_BUILD_TYPE="$type" >"$work/$type.log" 2>&1 ||
		! cmake --build "$work/$type" -j2 >>"$work/$type.log" 2>&1; then
		grep -E -B2 -A6 "error|warning" "$work/$type.log" | head -n 60 >&2
		echo "FAIL: the $type build does not compile cleanly (log above)" >&2
		exit 1
	fi
	echo "$type build: clean"
done
