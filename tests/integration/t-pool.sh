#!/bin/bash
#
# t-pool: the page pool's budget, as a user meets it.  With --pool-size=64M
# statfs shows 64 MiB; a write past the budget fails with ENOSPC, a fault
# past it raises SIGBUS in the faulting process, fallocate past it is
# ENOSPC, and ftruncate past the budget is EFBIG, while a sparse size beyond
# free space is fine and data already stored stays intact.  Unlinking an
# open or mapped file keeps it usable until the last close or unmap, then
# its memory goes back to the pool (statfs used and stats pool.used drop).
# Not for: page sizes (t-pagesize).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
gm_start --pool-size=64M || gm_bail "gmemfsd mounts with --pool-size=64M"
M=$GM_MNT
T=$GM_TMP
MiB=$((1 << 20))

# Figures can lag a moment behind a close or an unlink (the last release of
# a backing file), and provider limits move when the rebalancer runs: poll
# for the exact value.
# shellcheck disable=SC2317 # called through gm_poll
pool_used_is() { gm_stats_is 'd["pool"]["used"]' "$1"; }
# shellcheck disable=SC2317 # called through gm_poll
limits_sum_is() {
	gm_stats_is 'sum(p["limit"] for p in d["pool"]["providers"])' "$1"
}

# --- the budget as statfs and stats show it ---
read -r bsize budget free used < <(gm_statfs)
check_eq "statfs block size" 4096 "$bsize"
check_eq "statfs blocks * bsize = 64 MiB" $((64 * MiB)) "$budget"
check_eq "stats pool.budget = 64 MiB" $((64 * MiB)) "$(gm_stats 'd["pool"]["budget"]')"
check_eq "a fresh pool is free: used 0, free 64 MiB" "0 $((64 * MiB))" "$used $free"
check "providers' limits sum to exactly the budget" gm_poll 10 limits_sum_is $((64 * MiB))

# --- fill 40 MiB, then a second 40 MiB does not fit ---
head -c 40M /dev/urandom >"$T/r40"
check "write a 40 MiB file" dd if="$T/r40" of="$M/first" bs=1M status=none
check "statfs used is exactly 40 MiB" gm_poll 10 gm_statfs_used_is $((40 * MiB))
check_pool_agrees
check "the providers' limits still sum to the budget" gm_poll 10 limits_sum_is $((64 * MiB))
# shmem-4k, shmem-thp and kvm-gmem keep one 4 KiB page each while they hold
# nothing; the rest is shmem-advise's, where auto files go.
check_fails "a second 40 MiB file: ENOSPC" "No space left on device" \
	dd if="$T/r40" of="$M/second" bs=1M status=none
check_eq "it got all that was left: 24 MiB less the empty stores' pages" \
	$((24 * MiB - 12288)) "$(stat -c %s "$M/second")"
check "the first file is intact" cmp "$T/r40" "$M/first"
check_eq "the pool is full but for the empty stores' pages" $((64 * MiB - 12288)) "$(gm_statfs_used)"
check "rm the partial second file" rm "$M/second"
check "its memory goes back to the pool: 40 MiB used" \
	gm_poll 10 gm_statfs_used_is $((40 * MiB))

# --- sizes: sparse beyond free space is fine, beyond the budget is EFBIG ---
check "a 48 MiB sparse file (more than is free)" truncate -s 48M "$M/sparse"
check_eq "its size" $((48 * MiB)) "$(stat -c %s "$M/sparse")"
gm_log_mark
check_errno "ftruncate to 1 GiB (beyond the budget): EFBIG" EFBIG truncate "$M/sparse" $((1 << 30))
check_log "log: the refused size, with the file and the budget" \
	"file $(stat -c %i "$M/sparse"): size $((1 << 30)) refused: larger than the pool ($((64 * MiB)) bytes)"
check_fails "truncate -s 1G says File too large" "File too large" truncate -s 1G "$M/sparse"
check_eq "the failed truncate left the size alone" $((48 * MiB)) "$(stat -c %s "$M/sparse")"

# --- a fault past the budget: SIGBUS in the faulting process only ---
out=$("$GM_BIN/gm-mmap" "$M/sparse" 48M touch)
check_eq "touching 48 MiB with 24 MiB free: SIGBUS (exit 3)" 3 "$?"
check_eq "the SIGBUS hit the first page past the free space" \
	"SIGBUS at offset $((24 * MiB - 12288))" "$out"
check "the first file is intact after the SIGBUS" cmp "$T/r40" "$M/first"
check "gmemfsd is still running" gm_alive "$GM_PID"
check "rm the sparse file" rm "$M/sparse"
check "its memory goes back to the pool: 40 MiB used" \
	gm_poll 10 gm_statfs_used_is $((40 * MiB))

# --- fallocate past the budget ---
check_fails "fallocate -l 40M: ENOSPC" "No space left on device" fallocate -l 40M "$M/falloc"
check_errno "posix_fallocate 40 MiB: ENOSPC" ENOSPC fallocate "$M/falloc" 0 $((40 * MiB))
check "fallocate within the free space works" fallocate -l 8M "$M/falloc"
check "the first file is intact after fallocate" cmp "$T/r40" "$M/first"
rm -f "$M/falloc"

# --- a file of the non-default provider can use the pool too ---
mkdir "$M/d4k" "$M/dthp"
setfattr -n user.gmemfs.pagesize -v 4k "$M/d4k"
setfattr -n user.gmemfs.pagesize -v 2m-thp "$M/dthp"
check "a 4k-policy file can take 16 MiB of the pool" \
	dd if=/dev/zero of="$M/d4k/f" bs=1M count=16 status=none
# A third store in use gets half of what is free when its file is created
# (each store's headroom is its own: writes never ask the daemon).
check "a 2m-thp-policy file can take 3 MiB of that half" \
	dd if=/dev/zero of="$M/dthp/f" bs=1M count=3 status=none
check_eq "statfs used is the three files: 40 + 16 + 3 MiB" $((59 * MiB)) "$(gm_statfs_used)"
check_eq "stats: shmem-4k holds 16 MiB, shmem-thp 3, shmem-advise 40" \
	"$((16 * MiB)) $((3 * MiB)) $((40 * MiB))" \
	"$(gm_stats '" ".join(str(p["used"]) for p in d["pool"]["providers"]
			     if p["name"].startswith("shmem"))')"
check "the providers' limits sum to the budget" gm_poll 10 limits_sum_is $((64 * MiB))
rm -f "$M/d4k/f" "$M/dthp/f"
check "their memory goes back to the pool: 40 MiB used" \
	gm_poll 10 gm_statfs_used_is $((40 * MiB))

# --- unlink while open: usable until closed, then freed ---
sum=$(sha256sum <"$M/first")
exec 3<"$M/first"
check "rm a file held open" rm "$M/first"
check "its name is gone" test ! -e "$M/first"
check_eq "still readable through the open fd" "$sum" "$(sha256sum <&3)"
check_eq "and reopenable through /proc/PID/fd" "$sum" "$(sha256sum <"/proc/$$/fd/3")"
check_eq "ioctl on the fd says unlinked" 1 "$(gm_info --fd 3 unlinked)"
check_eq "memory still held while open: 40 MiB" $((40 * MiB)) "$(gm_statfs_used)"
exec 3<&-
check "after close statfs used drops back to 0" gm_poll 10 gm_statfs_used_is 0
check "after close stats pool.used drops back to 0" gm_poll 10 pool_used_is 0

# --- unlink while mapped: usable until unmapped, then freed ---
check "a mapped 32 MiB file" gm_hold_start vm "$M/vm" 32M
check_eq "write through the mapping" ok "$(gm_hold_cmd vm 'write 42')"
check "rm the mapped file" rm "$M/vm"
check_eq "the mapping still holds the data" ok "$(gm_hold_cmd vm 'verify 42')"
check_eq "and can still be written" ok "$(gm_hold_cmd vm 'write 43')"
check_eq "memory still held while mapped: 32 MiB" $((32 * MiB)) "$(gm_statfs_used)"
gm_hold_stop vm
check "after unmap statfs used drops back to 0" gm_poll 10 gm_statfs_used_is 0

# --- the whole budget is usable again ---
check "a 60 MiB file fits again" dd if=/dev/zero of="$M/again" bs=1M count=60 status=none
check_eq "statfs used is 60 MiB" $((60 * MiB)) "$(gm_statfs_used)"
check_pool_agrees

check_no_data_requests

# --- a budget given as a share of RAM ---
check "stop" gm_stop
gm_start --pool-size=10% || gm_bail "gmemfsd mounts with --pool-size=10%"
read -r _ budget _ _ < <(gm_statfs)
check_eq "--pool-size=10%: MemTotal/10, rounded down to 2 MiB" \
	$(($(gm_meminfo MemTotal) * 1024 / 10 / (2 * MiB) * (2 * MiB))) "$budget"

gm_done
