#!/bin/bash
#
# t-man: the man pages (docs/man) lint clean, with groff and man-db's
# checks, and cannot drift from the programs: every option gmemfsd --help
# prints (and the -o spelling of each of gmemfsd's own), and every command
# and option gmemctl --help prints, is described in the matching page; the
# version in each page's title is the programs' version.
# Needs no root and mounts nothing.  Not for: what the pages say being
# true (the tests of each feature).

set -u
[[ -x ${GMEMFSD:-} && -x ${GMEMCTL:-} ]] ||
	{ echo "GMEMFSD and GMEMCTL must name the programs (meson sets them)"; exit 1; }
MAN=$(cd "$(dirname "$0")/../../docs/man" && pwd)
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; }
# expect NAME CMD...: NAME passes if CMD succeeds.
expect() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

# The page's text with roff's escapes for minus and fonts undone.
plain() { sed 's/\\-/-/g; s/\\f[BIRP]//g; s/\\e/\\/g' "$1"; }

lint() {
	local page=$1 out
	out=$(groff -man -ww -z "$page" 2>&1)
	expect "$(basename "$page"): groff -man -ww: no warning" test -z "$out"
	[[ -n $out ]] && printf '#   %s\n' "$out"
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	expect "$(basename "$page"): man --warnings: no warning" test -z "$out"
	[[ -n $out ]] && printf '#   %s\n' "$out"
	return 0
}

# described PAGE WORD...: each WORD appears in PAGE's text, as a word.
described() {
	local page=$1 text w
	shift
	text=$(plain "$MAN/$page")
	for w in "$@"; do
		if grep -qF -- "$w" <<<"$text"; then
			ok "$page describes $w"
		else
			bad "$page does not describe $w"
		fi
	done
}

for p in gmemfsd.8 gmemctl.8 gmemfs.7; do
	lint "$MAN/$p"
done

version=$("$GMEMFSD" --version | awk '$1 == "gmemfsd" { print $2 }')
for p in gmemfsd.8 gmemctl.8 gmemfs.7; do
	th=$(sed -n 's/^\.TH [^ ]* [0-9] "[^"]*" "gmemfs \([^"]*\)".*/\1/p' "$MAN/$p")
	expect "$p: title says version '$th', gmemfsd is $version" test "$th" = "$version"
done

# gmemfsd: long options, -o NAME options and the one-letter ones.
help=$("$GMEMFSD" --help 2>&1)
# (\B before a one-letter option: not the second dash of a long one.)
mapfile -t opts < <(grep -oE -- '--[a-z][a-z0-9-]*|-o [a-z_]+|\B-[a-zA-Z]\b' <<<"$help" | sort -u)
expect "gmemfsd --help prints ${#opts[@]} options (at least 20)" test "${#opts[@]}" -ge 20
described gmemfsd.8 "${opts[@]}"
# Each of gmemfsd's own options that takes a value, as an -o option.
mapfile -t own < <(grep -oE -- '--[a-z][a-z0-9-]*=' <<<"$help" | grep -v -- '--hugepages=' |
	sed 's/^--//; s/=$//; s/-/_/g' | sort -u)
described gmemfsd.8 "${own[@]/#/-o }"

# gmemctl: each command (a line's first word in --help) as a .TP entry,
# and every option.
help=$("$GMEMCTL" --help 2>&1)
mapfile -t cmds < <(sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' <<<"$help" | sort -u)
entries=$(plain "$MAN/gmemctl.8" | awk 'prev ~ /^\.T[PQ]/ { w = $2; gsub(/"/, "", w); print w } { prev = $0 }')
expect "gmemctl --help lists ${#cmds[@]} commands (at least 10)" test "${#cmds[@]}" -ge 10
for c in "${cmds[@]}"; do
	expect "gmemctl.8 has an entry for the command $c" grep -qxF -- "$c" <<<"$entries"
done
mapfile -t opts < <(grep -oE -- '--[a-z][a-z0-9-]*|\B-[a-zA-Z]\b' <<<"$help" | sort -u)
described gmemctl.8 "${opts[@]}" open-exec

echo "$PASS passed, $FAIL failed"
((FAIL == 0))
