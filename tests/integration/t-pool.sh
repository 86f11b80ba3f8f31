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

used_below() { (($(gm_statfs_used) < $1)); }
pool_used_below() { (($(gm_stats 'd["pool"]["used"]') < $1)); }

# --- the budget as statfs and stats show it ---
read -r bsize budget free used < <(gm_statfs)
check_eq "statfs block size" 4096 "$bsize"
check_eq "statfs blocks * bsize = 64 MiB" $((64 * MiB)) "$budget"
check_eq "stats pool.budget = 64 MiB" $((64 * MiB)) "$(gm_stats 'd["pool"]["budget"]')"
check_cond "a fresh pool is (almost) free" "$used < 1 * $MiB && $free > 63 * $MiB"
check_eq "providers' limits sum to at most the budget" True \
	"$(gm_stats 'sum(p["limit"] for p in d["pool"]["providers"]) <= d["pool"]["budget"]')"

# --- fill 40 MiB, then a second 40 MiB does not fit ---
head -c 40M /dev/urandom >"$T/r40"
check "write a 40 MiB file" dd if="$T/r40" of="$M/first" bs=1M status=none
check_cond "statfs used grew by 40 MiB" "$(gm_statfs_used) >= 40 * $MiB"
check_eq "statfs used = stats pool.used" "$(gm_statfs_used)" "$(gm_stats 'd["pool"]["used"]')"
check_fails "a second 40 MiB file: ENOSPC" "No space left on device" \
	dd if="$T/r40" of="$M/second" bs=1M status=none
check "the first file is intact" cmp "$T/r40" "$M/first"
check_cond "used stays within the budget" "$(gm_statfs_used) <= 64 * $MiB"
check "rm the partial second file" rm "$M/second"
check "its memory goes back to the pool" gm_poll 10 used_below $((48 * MiB))

# --- sizes: sparse beyond free space is fine, beyond the budget is EFBIG ---
check "a 48 MiB sparse file (more than is free)" truncate -s 48M "$M/sparse"
check_eq "its size" $((48 * MiB)) "$(stat -c %s "$M/sparse")"
check_errno "ftruncate to 1 GiB (beyond the budget): EFBIG" EFBIG truncate "$M/sparse" $((1 << 30))
check_fails "truncate -s 1G says File too large" "File too large" truncate -s 1G "$M/sparse"
check_eq "the failed truncate left the size alone" $((48 * MiB)) "$(stat -c %s "$M/sparse")"

# --- a fault past the budget: SIGBUS in the faulting process only ---
out=$("$GM_BIN/gm-mmap" "$M/sparse" 48M touch)
check_eq "touching 48 MiB with ~24 MiB free: SIGBUS (exit 3)" 3 "$?"
gm_say "gm-mmap said: $out"
off=$(sed -n 's/^SIGBUS at offset //p' <<<"$out")
check_cond "the SIGBUS came after the free space was used" \
	"${off:-0} >= 16 * $MiB && ${off:-0} < 48 * $MiB"
check "the first file is intact after the SIGBUS" cmp "$T/r40" "$M/first"
check "gmemfsd is still running" gm_alive "$GM_PID"
check "rm the sparse file" rm "$M/sparse"
check "its memory goes back to the pool" gm_poll 10 used_below $((48 * MiB))

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
check "a 2m-thp-policy file can take the rest but 2 MiB" \
	dd if=/dev/zero of="$M/dthp/f" bs=1M count=6 status=none
check_cond "statfs used covers all three files" "$(gm_statfs_used) >= 62 * $MiB"
rm -f "$M/d4k/f" "$M/dthp/f"
check "their memory goes back to the pool" gm_poll 10 used_below $((48 * MiB))

# --- unlink while open: usable until closed, then freed ---
sum=$(sha256sum <"$M/first")
exec 3<"$M/first"
check "rm a file held open" rm "$M/first"
check "its name is gone" test ! -e "$M/first"
check_eq "still readable through the open fd" "$sum" "$(sha256sum <&3)"
check_eq "and reopenable through /proc/PID/fd" "$sum" "$(sha256sum <"/proc/$$/fd/3")"
check_eq "ioctl on the fd says unlinked" 1 \
	"$("$GM_BIN/gm-info" --fd 3 | awk -F= '$1 == "unlinked" { print $2 }')"
check_cond "memory still held while open" "$(gm_statfs_used) >= 40 * $MiB"
exec 3<&-
check "after close statfs used drops" gm_poll 10 used_below $((8 * MiB))
check "after close stats pool.used drops" gm_poll 10 pool_used_below $((8 * MiB))

# --- unlink while mapped: usable until unmapped, then freed ---
check "a mapped 32 MiB file" gm_hold_start vm "$M/vm" 32M
check_eq "write through the mapping" ok "$(gm_hold_cmd vm 'write 42')"
check "rm the mapped file" rm "$M/vm"
check_eq "the mapping still holds the data" ok "$(gm_hold_cmd vm 'verify 42')"
check_eq "and can still be written" ok "$(gm_hold_cmd vm 'write 43')"
check_cond "memory still held while mapped" "$(gm_statfs_used) >= 32 * $MiB"
gm_hold_stop vm
check "after unmap statfs used drops" gm_poll 10 used_below $((8 * MiB))

# --- the whole budget is usable again ---
check "a 60 MiB file fits again" dd if=/dev/zero of="$M/again" bs=1M count=60 status=none
check_eq "statfs used = stats pool.used" "$(gm_statfs_used)" "$(gm_stats 'd["pool"]["used"]')"

check_eq "no read or write request reached the daemon" "0 0" \
	"$(gm_stats 'd["requests"]["read"], d["requests"]["write"]' | tr -d '(),')"

# --- a budget given as a share of RAM ---
check "stop" gm_stop
gm_start --pool-size=10% || gm_bail "gmemfsd mounts with --pool-size=10%"
read -r _ budget _ _ < <(gm_statfs)
tenth=$(($(gm_meminfo MemTotal) * 1024 / 10))
check_cond "--pool-size=10%: budget within 4 MiB of MemTotal/10" \
	"$budget <= $tenth && $budget > $tenth - 4 * $MiB"

gm_done
