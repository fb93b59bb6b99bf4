#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Static checks, as CI enforces them (ctest label lint):
#   the route-decision seam, by grep (before anything else);
#   every source file (C, headers, proto, shell, CMake, Python) carries
#   the project's SPDX licence tag in its first two lines;
#   every shell script through ShellCheck (*.sh, and files whose first line
#   runs sh or bash: deploy/lab, tests/run, the maintainer scripts, the bash
#   completion), with the repo's .shellcheckrc;
#   cppcheck --enable=warning,portability over src/, agent/ and test tools;
#   clang-tidy with the repo's .clang-tidy (bugprone-*, clang-analyzer-*,
#   warnings are errors) over src/, agent/ and tests/lab/fakepeer.c.
# Both read the compile flags from BUILD/compile_commands.json.
# Usage: tests/lint.sh [BUILD_DIR]   (default build-asan/)
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
build=${1:-${NSAGENT_BUILD_DIR:-$repo/build-asan}}

# The route-decision seam (src/README.md): session code turns the wire into
# events and never decides a route, so it neither includes nor calls the
# rde's helpers (rib, claim, backend); the daemon applies plans and never
# inspects a route nor makes a decision the rde makes.
seam_rc=0
session_files=(src/session.c src/session_fsm.c src/peers.c src/session_priv.h include/nsagent/peer.h)
for f in "${session_files[@]}"; do
	[[ -f $repo/$f ]] || {
		echo "lint: $f is gone: update the session files this check covers" >&2
		seam_rc=1
	}
done
if grep -nE '#include "nsagent/(rib|claim|backend)\.h"|\b(rib|claim|backend)_[a-z_]+\(' \
	"${session_files[@]/#/$repo/}"; then
	echo "lint: session code reaches past the rde (rib, claim, backend are the rde's helpers)" >&2
	seam_rc=1
fi
if grep -nE '#include "nsagent/(rib|claim)\.h"|\b(backend_choose|backend_namespace_mtu|claim_[a-z_]+|rib_(advert|routes|entries|set_[a-z]+|expire|adopt|withdraw|session_down|end_of_adverts))\(|KERN_MODE_|(\.|->)(dst|gateway)\b' \
	"$repo/src/daemon.c"; then
	echo "lint: src/daemon.c inspects a route or decides what the rde decides" >&2
	seam_rc=1
fi
# The licence tag: first line, or second after a #! line. Generated code
# (the build trees) and test data are not sources.
mapfile -t sources < <(cd "$repo" && find . \( -name .git -o -name .ci -o -name 'build*' -o -name corpus \
	-o -name regressions -o -name golden \) -prune -o -type f \( -name '*.[ch]' -o -name '*.proto' \
	-o -name '*.sh' -o -name '*.cmake' -o -name CMakeLists.txt -o -name '*.py' -o -name Vagrantfile \
	-o -path ./deploy/lab -o -path ./tests/run -o -path ./tests/soak/run -o -path './deploy/debian/post*' \
	-o -path ./deploy/debian/prerm -o -path './deploy/bash-completion/*' \) -print | sed 's|^\./||' | sort)
untagged=()
for f in "${sources[@]}"; do
	head -n 2 "$repo/$f" | grep -q 'SPDX-License-Identifier: GPL-2.0-or-later' || untagged+=("$f")
done
if ((${#untagged[@]})); then
	printf 'lint: no SPDX-License-Identifier: GPL-2.0-or-later in the first lines of %s\n' "${untagged[@]}" >&2
	seam_rc=1
fi

# Every shell script, found rather than listed, so a new one is checked
# without being named here.
mapfile -t scripts < <(cd "$repo" && find . \( -name .git -o -name 'build*' -o -name corpus \
	-o -name regressions \) -prune -o -type f -print | sed 's|^\./||' | sort |
	while read -r f; do
		case $f in
		*.sh | deploy/bash-completion/*) echo "$f" ;;
		*) head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*[/ ](ba)?sh( |$)' && echo "$f" ;;
		esac
	done)
if ! command -v shellcheck >/dev/null; then
	echo "lint: shellcheck is not installed (deploy/deps.sh installs it)" >&2
	seam_rc=1
elif ! (cd "$repo" && shellcheck -x "${scripts[@]}"); then
	echo "lint: shellcheck findings above (fix them, or say why in a directive)" >&2
	seam_rc=1
fi
[[ -f $build/compile_commands.json ]] || {
	echo "lint: no $build/compile_commands.json (configure with cmake first)" >&2
	exit 1
}
cd "$repo"
rc=$seam_rc
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
((rc == 0)) && echo "lint: ${#scripts[@]} shell scripts, cppcheck and clang-tidy clean"
exit "$rc"
