#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# nsagent(8) is complete and clean: every command that `nsagent --help`
# lists has an entry in COMMANDS, every flag that a command's --help lists
# has an entry in OPTIONS (or, for a client command's own flags, appears
# in the page), the EXIT STATUS and FILES sections exist, and
# `mandoc -T lint -W style` says nothing. A copy with one entry removed
# must fail, so this test cannot pass vacuously. Touches nothing.
set -u

NSAGENT=${NSAGENT:?NSAGENT must name the nsagent binary}
NSAGENT_SOURCE_DIR=${NSAGENT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v mandoc >/dev/null || {
	echo "FAIL: mandoc is not installed (deploy/deps.sh installs it)"
	exit 1
}
page=$NSAGENT_SOURCE_DIR/deploy/man/nsagent.8
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsagent-man.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

commands=$("$NSAGENT" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
[ -n "$commands" ] || { echo "FAIL: nsagent --help lists no commands"; exit 1; }
for cmd in $commands; do
	"$NSAGENT" "$cmd" --help >"$tmp/help.$cmd" || { echo "FAIL: nsagent $cmd --help failed"; exit 1; }
done

# check PAGE: prints what PAGE lacks; status 1 when anything.
check() {
	local page=$1 missing=0 cmd flag section help flags
	# The page's text with roff's escaped hyphens plain, per section.
	sed 's/\\-/-/g' "$page" >"$tmp/plain"
	section() { awk -v s="$1" '/^\.SH/ { on = ($0 ~ "^\\.SH \"?" s) } on' "$tmp/plain"; }
	for cmd in $commands; do
		# An entry: a .TP tag naming the command first (.B run, .BI "ns add " NAME).
		section COMMANDS | grep -qE "^\.(B|BI|BR) \"?$cmd( |\"|$)" ||
			{ echo "command $cmd has no entry in COMMANDS"; missing=1; }
		help=$(cat "$tmp/help.$cmd")
		mapfile -t flags < <(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u)
		for flag in "${flags[@]}"; do
			[ "$flag" = --help ] && continue
			if grep -qE -- "^  $flag " <<<"$help"; then
				# A run flag: its own entry in OPTIONS.
				section OPTIONS | grep -qE -- "^\.(B|BI|BR) .*$flag( |\"|$)" ||
					{ echo "flag $flag ($cmd) has no entry in OPTIONS"; missing=1; }
			else
				grep -qE -- "$flag([^a-z0-9-]|$)" "$tmp/plain" ||
					{ echo "flag $flag ($cmd) is not in the page"; missing=1; }
			fi
		done
	done
	for section in "EXIT STATUS" FILES LOGGING; do
		grep -qx "\.SH \"\\?$section\"\\?" "$tmp/plain" || { echo "no $section section"; missing=1; }
	done
	return "$missing"
}

out=$(check "$page") || { echo "FAIL: nsagent(8) is incomplete:"; echo "$out"; exit 1; }
lint=$(mandoc -T lint -W style "$page" 2>&1)
[ -z "$lint" ] || { echo "FAIL: mandoc -T lint:"; echo "$lint"; exit 1; }

# Vacuity: without the genkey entry and the --dial-rate entry, both are missed.
awk '/^\.TP$/ { held = $0; next } held && /^\.B genkey$/ { held = ""; skip = 1; next }
	held && /^\.BI \\-\\-dial\\-rate/ { held = ""; skip = 1; next }
	skip && /^\.(TP|SH)/ { skip = 0 } skip { next } held { print held; held = "" } { print }' \
	"$page" >"$tmp/broken.8"
out=$(check "$tmp/broken.8") && { echo "FAIL: a page without genkey and --dial-rate passes"; exit 1; }
grep -q 'command genkey' <<<"$out" && grep -q 'flag --dial-rate' <<<"$out" ||
	{ echo "FAIL: the broken page was not caught for the right reasons: $out"; exit 1; }
echo "test_man: ok"
