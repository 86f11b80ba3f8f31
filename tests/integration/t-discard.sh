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
check "SIGTERM stops it" gm_stop TERM

# --- huge pages gmemfsd added: a restart takes them over, discard gives
# back what a killed daemon could not ---
HP=/sys/kernel/mm/hugepages/hugepages-2048kB
OWED=$S/hugepages-2048kB.owed
gm_knob_keep "$HP/nr_hugepages"
hp0=$(cat "$HP/nr_hugepages")
sp0=$(cat "$HP/surplus_hugepages")
# shellcheck disable=SC2317 # called through check
nr_is() { [[ $(cat "$HP/nr_hugepages") == "$1" ]]; }
# shellcheck disable=SC2317 # called through check
huge_fill() {
	mkdir -p "$M/huge" && setfattr -n user.gmemfs.pagesize -v 2m "$M/huge" &&
		"$GM_BIN/gm-mmap" "$M/huge/ram" 4M pwrite 9
}
gm_start --pool-size=64M --hugepages=2M:4 || gm_bail "gmemfsd mounts with --hugepages=2M:4"
check "a 4 MiB file on hugetlb-2m" huge_fill
check "gmemfsd added 4 pages to the kernel's pool" nr_is $((hp0 + 4))
check_eq "and recorded them in the state dir at once" 4 "$(cat "$OWED")"
check "SIGKILL" gm_stop KILL
check "the 4 pages stay in the kernel's pool" nr_is $((hp0 + 4))
gm_log_mark
gm_start --pool-size=64M --hugepages=2M:4 || gm_bail "gmemfsd restarts with --hugepages=2M:4"
check_log "the restart takes over the 4 pages the killed run added" \
	"pool: taking over 4 hugetlb-2m pages an earlier run added to the kernel's pool"
check_eq "stats: 4 pages added (the killed run's, none more)" 4 \
	"$(gm_stats "[p for p in d['pool']['providers'] if p['name'] == 'hugetlb-2m'][0]['hugepages_added']")"
check "the restart did not grow the kernel's pool" nr_is $((hp0 + 4))
check_eq "the record still says 4" 4 "$(cat "$OWED")"
check "the file's bytes survived" "$GM_BIN/gm-mmap" "$M/huge/ram" 4M pverify 9
check "SIGKILL again" gm_stop KILL
out=$(printf 'no\n' | timeout 10 script -qec "$G discard $M" /dev/null 2>&1)
check_eq "the question lists the huge pages it will give back" 1 \
	"$(grep -cF "will give back 4 huge pages of 2 MiB to the kernel's pool" <<<"$out")"
check "declined: the record is kept" test -e "$OWED"
out=$("$G" discard --force "$M" 2>&1)
check_eq "discard --force gives the 4 pages back" 1 \
	"$(grep -cF "gave 4 huge pages of 2 MiB back to the kernel's pool" <<<"$out")"
check "nr_hugepages is back where it was" nr_is "$hp0"
check_eq "no surplus page is left" "$sp0" "$(cat "$HP/surplus_hugepages")"
discarded "after kill -9 with huge pages"

# A clean stop gives 2 MiB pages back even while they hold a file: they
# leave the persistent pool as surplus pages, freed when the store goes.
gm_start --pool-size=64M --hugepages=2M:4 || gm_bail "gmemfsd mounts with --hugepages=2M:4"
check "a 4 MiB file on hugetlb-2m" huge_fill
check "SIGTERM with the file kept" gm_stop TERM
check_eq "the persistent pool is back where it was" $((hp0 - sp0)) \
	"$(($(cat "$HP/nr_hugepages") - $(cat "$HP/surplus_hugepages")))"
check "nothing is left owed" test ! -e "$OWED"
check "the file's pages are surplus now" test "$(cat "$HP/surplus_hugepages")" -gt "$sp0"
out=$("$G" discard --force "$M" 2>&1)
check_eq "discard has no huge pages to give back" 0 "$(grep -c "huge pages" <<<"$out")"
check "nr_hugepages is back where it was" nr_is "$hp0"
check_eq "the surplus pages went with the store" "$sp0" "$(cat "$HP/surplus_hugepages")"
discarded "after a stop with huge pages"
gm_done
