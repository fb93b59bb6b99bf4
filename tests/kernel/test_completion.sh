#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The bash completion (deploy/bash-completion/nsagent, shipped in the
# .deb) completes the commands and every flag from the binary's own help,
# the values of the flags that have a fixed set, and knows that the word
# after a flag's value is no command. Runs bash-completion's real helpers;
# touches nothing.
set -u

NSAGENT=${NSAGENT:?NSAGENT must name the nsagent binary}
NSAGENT_SOURCE_DIR=${NSAGENT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
helpers=/usr/share/bash-completion/bash_completion
[ -r "$helpers" ] || { echo "FAIL: bash-completion is not installed (deploy/deps.sh installs it)"; exit 1; }
# shellcheck source=/dev/null
source "$helpers"
# shellcheck source=deploy/bash-completion/nsagent
source "$NSAGENT_SOURCE_DIR/deploy/bash-completion/nsagent"
bin=$(mktemp -d "${TMPDIR:-/tmp}/nsagent-completion.$$.XXXXXX")
trap 'rm -rf "$bin"' EXIT
ln -s "$(readlink -f "$NSAGENT")" "$bin/nsagent"
PATH=$bin:$PATH

# complete WORDS...: the completions offered for the last word.
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_nsagent nsagent "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
rc=0
expect() { # EXPECTED WORDS...
	local want=$1 got
	shift
	got=$(complete_words "$@")
	if [ "$got" != "$want" ]; then
		echo "FAIL: '$*' completes to '$got', not '$want'"
		rc=1
	fi
}
commands=$(nsagent --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }' | sort | tr '\n' ' ')
expect "$commands" nsagent ""
expect "status " nsagent st
expect "check-config " nsagent --config /etc/x ch
expect "debug error info warn " nsagent --log-level ""
expect "auto direct vxlan wireguard " nsagent run --backend ""
expect "all off routed " nsagent run --encrypt ""
expect "bgp mesh " nsagent run --routing ""
expect "rotate-key " nsagent rot
expect "--max-connections --max-peers " nsagent --peer node2 --max
expect "--config --json --run-dir " nsagent status --
expect "add del " nsagent ns ""
expect "$commands" nsagent help ""
# Every run flag is offered.
for flag in $(nsagent run --help | grep -oE -- '^  --[a-z0-9-]+'); do
	complete_words nsagent run -- | grep -q -- "$flag " || { echo "FAIL: $flag is not completed"; rc=1; }
done
[ "$rc" -eq 0 ] && echo "test_completion: ok"
exit "$rc"
