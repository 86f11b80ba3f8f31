#!/bin/bash
#
# t-discard: `gmemctl discard` gives a stopped mount's memory back for good.
# It refuses while gmemfsd runs (the files survive), refuses without --force
# when nobody can confirm (stdin not a terminal), lists what it would remove
# and keeps everything when the answer on the terminal is not "yes"; with
# --force it unmounts every store and removes the state dir, after a clean
# stop and after kill -9 (it detaches the dead FUSE mount first); the next
# gmemfsd on the same mountpoint starts empty.
# The daemon's default state dir is used, so the mountpoint form goes
# through the same path rule (common/statedir.c) as gmemfsd.
# Not for: what a restart keeps (t-restart).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
[[ -x ${GMEMCTL:-} ]] || { echo "GMEMCTL must name gmemctl (meson sets it)"; exit 1; }
G=$GMEMCTL
M=$GM_MNT
GM_DEFAULT_STATE=1
S=/run/gmemfs/$(systemd-escape --path "$M")
# Registered before the first start: cleanup unmounts and removes it.
GM_EXTRA_STATE+=("$S")

up() {
	# shellcheck disable=SC2119 # every start here takes the default options
	gm_start || gm_bail "$1"
}

# Mounts below the state dir, as findmnt sees them: its raw output writes
# the state dir name's backslashes as \x5c.  (The prefix goes through the
# environment: awk -v would expand escapes.)
# shellcheck disable=SC2317 # called through check
store_mounts() {
	findmnt -rn -o TARGET | P="${S//\\/\\x5c}/" awk 'index($0, ENVIRON["P"]) == 1'
}

# shellcheck disable=SC2317 # called through check
has_stores() { [[ -n $(store_mounts) ]]; }

# shellcheck disable=SC2317 # called through check
no_stores() { [[ -z $(store_mounts) ]]; }

# shellcheck disable=SC2317 # called through check
fill() {
	mkdir -p "$M/small" "$M/thp"
	setfattr -n user.gmemfs.pagesize -v 4k "$M/small"
	setfattr -n user.gmemfs.pagesize -v 2m-thp "$M/thp"
	"$GM_BIN/gm-mmap" "$M/small/ram" 4M pwrite 7 &&
		"$GM_BIN/gm-mmap" "$M/thp/ram" 8M write 8
}

# discarded WHY: every store unmounted, the state dir gone, no FUSE mount.
discarded() {
	check "$1: no store mounted below the state dir" no_stores
	check "$1: the state dir is gone" test ! -e "$S"
	check "$1: no FUSE mount left at the mountpoint" gm_unmounted
}

up "gmemfsd mounts with the default state dir"
check "the default state dir is $S" test -e "$S/lock"
check "files written" fill
check_fails "discard is refused while gmemfsd runs" "$S: a gmemfsd holds its lock" \
	"$G" discard --force "$M"
check_fails "discard --state-dir is refused while gmemfsd runs" "gmemfsd holds its lock" \
	"$G" discard --force --state-dir="$S"
check "after the refusal the files are intact" "$GM_BIN/gm-mmap" "$M/small/ram" 4M pverify 7
check "after the refusal the stores are mounted" has_stores

check "SIGTERM stops gmemfsd" gm_stop TERM
check_fails "without a terminal and without --force, discard is refused" "pass --force" \
	"$G" discard "$M" </dev/null
check "after that refusal the stores are still mounted" has_stores
out=$(printf 'no\n' | timeout 10 script -qec "$G discard $M" /dev/null 2>&1)
check "on a terminal, an answer other than yes keeps everything" has_stores
check_eq "the question lists the 4k store with its size and files" 1 \
	"$(grep -cF "will unmount $S/shmem-4k: 4 MiB in 1 files" <<<"$out")"
check_eq "the question asks for yes" 1 "$(grep -c "Type yes" <<<"$out")"
out=$("$G" discard --force "$M" 2>&1)
check_eq "discard --force after a stop says what it freed" 1 \
	"$(grep -cF "in 2 files from 4 stores; removed $S" <<<"$out")"
check_eq "and lists the 4k store it unmounted" 1 \
	"$(grep -cF "unmounted $S/shmem-4k: 4 MiB in 1 files" <<<"$out")"
discarded "after a stop"

up "gmemfsd starts again on the same mountpoint"
check "it starts empty" test ! -e "$M/small/ram"
check "files written again" fill
check "SIGKILL leaves a dead mount" gm_stop KILL
check "the dead mount is there" gm_dead_mount
check "a killed gmemfsd leaves its control socket behind" test -S "$S.sock"
out=$("$G" discard --force "$M" 2>&1)
check_eq "discard --force after kill -9 detaches the dead mount" 1 \
	"$(grep -c "detached the dead FUSE mount at $M" <<<"$out")"
check_eq "discard --force after kill -9 frees the stores" 1 "$(grep -c "^freed " <<<"$out")"
check "discard --force after kill -9 removes the stale control socket" test ! -e "$S.sock"
discarded "after kill -9"

up "gmemfsd starts again after the second discard"
check "it starts empty" test ! -e "$M/small/ram"
gm_done
