#!/usr/bin/env bash
# Static checks, as CI enforces them (ctest label lint):
#   cppcheck --enable=warning,portability over src/, agent/ and test tools;
#   clang-tidy with the repo's .clang-tidy (bugprone-*, clang-analyzer-*,
#   warnings are errors) over src/, agent/ and tests/lab/fakepeer.c.
# Both read the compile flags from BUILD/compile_commands.json.
# Usage: tests/lint.sh [BUILD_DIR]   (default build-asan/)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
build=${1:-${NSAGENT_BUILD_DIR:-$repo/build-asan}}
[[ -f $build/compile_commands.json ]] || {
	echo "lint: no $build/compile_commands.json (configure with cmake first)" >&2
	exit 1
}
cd "$repo"
rc=0
# The generated protobuf-c header checks PROTOBUF_C_VERSION with #error,
# which cppcheck cannot evaluate: that directive is not a finding.
cppcheck --project="$build/compile_commands.json" --enable=warning,portability \
	--error-exitcode=1 --inline-suppr --quiet -j2 -i "$build/proto" -i "$repo/tests/unit" -i "$repo/tests/fuzz" \
	--suppress=preprocessorErrorDirective || rc=1
# Its findings are what fails the check, not its exit status (non-zero
# exactly when there are findings, which under pipefail would hide them
# from a `clang-tidy | grep && rc=1`).
tidy=$(clang-tidy -p "$build" --quiet src/*.c src/kernel/*.c agent/*.c tests/lab/fakepeer.c 2>/dev/null) || true
if grep -E "(warning|error):" <<<"$tidy"; then
	rc=1
fi
((rc == 0)) && echo "lint: cppcheck and clang-tidy clean"
exit "$rc"
