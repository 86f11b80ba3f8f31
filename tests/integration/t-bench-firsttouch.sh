#!/bin/bash
#
# t-bench-firsttouch: bench/gm-firsttouch works end to end on a tiny file:
# it finds the backing of a 4k-policy gmemfs file from the state dir (and
# from an explicit path), runs its rounds, and every pass populated every
# page.  Run by meson in the 'bench' suite, with GM_BIN naming bench/'s
# build directory.  Not for: timings (never asserted).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
# shellcheck disable=SC2119 # started with the default options
gm_start || gm_bail "gmemfsd mounts"
M=$GM_MNT
B=$GM_BIN/gm-firsttouch

mkdir "$M/vm"
setfattr -n user.gmemfs.pagesize -v 4k "$M/vm"

out=$("$B" --rounds 2 --size 4M --state-dir "$GM_STATE" "$M/vm/ram" 2>&1)
check_eq "runs with --state-dir" 0 "$?"
printf '%s\n' "$out" | sed 's/^/#   /'
check "prints the command line" grep -q "^command: .*gm-firsttouch --rounds 2 --size 4M" <<<"$out"
check "every pass populated all 1024 pages" \
	grep -q "^populated: every pass left all 1024 pages" <<<"$out"
# shellcheck disable=SC2016 # the inner shell expands $1
check "reports both medians and the ratio" \
	bash -c 'grep -q "^gmemfs: median" <<<"$1" && grep -q "^direct: median" <<<"$1" &&
		grep -q "^ratio gmemfs/direct" <<<"$1"' _ "$out"
check_eq "the file is fully populated afterwards" $((4 << 20)) \
	"$(($(stat --cached=never -c %b "$M/vm/ram") * 512))"

backing=$(sed -n 's/^backing: //p' <<<"$out")
check "runs with an explicit backing path" "$B" --rounds 1 --size 4M "$M/vm/ram" "$backing"
check_fails "refuses a backing that is not the file's" "is not the backing" \
	"$B" --rounds 1 --size 4M "$M/vm/ram" /dev/zero

gm_done
