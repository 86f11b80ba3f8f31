#!/bin/bash
#
# t-hugetlb: hugetlb files through a real mount.  --hugepages=2M:4 adds 4
# pages to the kernel's pool and gives exactly those back at exit; the
# store's 8 MiB is part of the 64 MiB budget (stats, statfs).  A 2m file
# lives on hugetlb-2m, read() and write() through the mount are served by
# the daemon, a shared mmap through the mount fails with ENODEV and a log
# line naming the control socket, a private one reads the data.  Sizes are
# whole 2 MiB pages; past the store's room is ENOSPC; 1g (no 1 GiB pages
# here) is ENOSPC at create, 1g,fallback=2m-thp falls back; auto puts a
# file sized to whole 2 MiB pages on hugetlb-2m.  A restart adopts the
# store with the file's bytes.
# Not for: mapping the handed-out fd (check_prov_hugetlb, t-guest).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

KNOB=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
MiB=$((1 << 20))
[[ -w $KNOB ]] || gm_skip "$KNOB is not writable: no 2 MiB hugetlb pages"

gm_init
knob_at_start=$(cat "$KNOB")
gm_knob_keep "$KNOB"
M=$GM_MNT
T=$GM_TMP
X=user.gmemfs.pagesize
gm_start --pool-size=64M --hugepages=2M:4 || gm_bail "gmemfsd mounts with --hugepages=2M:4"

prov() { gm_stats "[p for p in d['pool']['providers'] if p['name'] == '$1'][0]['$2']"; }
# shellcheck disable=SC2317 # called through check_fails
map_shared() {
	python3 -c 'import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
mmap.mmap(fd, 4096, mmap.MAP_SHARED)' "$1"
}
map_private_sum() {
	python3 -c 'import hashlib, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, int(sys.argv[3]), mmap.MAP_PRIVATE, mmap.PROT_READ, offset=int(sys.argv[2]))
print(hashlib.sha256(m[:]).hexdigest())' "$@"
}

# --- the pool: 4 pages added, carved out of the budget ---
check_eq "stats: hugetlb-2m's limit is the 4 pages added" $((8 * MiB)) "$(prov hugetlb-2m limit)"
check_eq "stats: hugetlb-2m added 4 pages to the kernel" 4 "$(prov hugetlb-2m hugepages_added)"
check_eq "stats: hugetlb-2m's limit is fixed" True "$(prov hugetlb-2m fixed)"
check_eq "stats: hugetlb-1g is unavailable" False "$(prov hugetlb-1g available)"
check_eq "stats: and says why" "no huge pages reserved for it (--hugepages)" \
	"$(prov hugetlb-1g reason)"
check_eq "stats: the providers' limits sum to the budget" $((64 * MiB)) \
	"$(gm_stats 'sum(p["limit"] for p in d["pool"]["providers"])')"
check_eq "statfs: the budget is the pool's size" $((64 * MiB)) "$(gm_statfs | cut -d' ' -f2)"
# Each store has its own inode limit; hugetlbfs's default is "unlimited" (~0).
check_eq "statfs: file slots are the 5 stores' inode limits added up (4 tmpfs, 1 hugetlbfs)" $((4 * 262144 + 65536)) \
	"$(stat -f -c %c "$M")"

# --- a 2m file: daemon-served read/write, no shared mmap through the mount ---
mkdir "$M/huge"
check "setfattr 2m on a directory" setfattr -n "$X" -v 2m "$M/huge"
gm_log_mark
check "a 4 MiB file in it" truncate -s 4M "$M/huge/ram"
check_eq "ioctl: provider hugetlb-2m" 3 "$(gm_info "$M/huge/ram" provider)"
check_eq "ioctl: page size 2 MiB" $((2 * MiB)) "$(gm_info "$M/huge/ram" page_size)"
check_eq "ioctl: not passthrough" 0 "$(( $(gm_info "$M/huge/ram" flags) & 1 ))"
head -c 1M /dev/urandom >"$T/r1"
check "dd 1 MiB into it at 1 MiB through the mount" \
	dd if="$T/r1" of="$M/huge/ram" bs=1M seek=1 conv=notrunc status=none
check "read back through the mount" \
	cmp <(dd if="$M/huge/ram" bs=1M skip=1 count=1 status=none) "$T/r1"
check_cond "stats: the daemon served the writes" "$(gm_stats 'd["requests"]["write"]') > 0"
check_eq "the store holds the one 2 MiB page written" $((2 * MiB)) "$(prov hugetlb-2m used)"
check_fails "mmap(MAP_SHARED) through the mount: ENODEV" "No such device" map_shared "$M/huge/ram"
check_log "log: the open names the control-socket way" \
	"hugetlb-2m files are served without passthrough: read() and write() work through the mount, mmap(MAP_SHARED) fails with ENODEV; map the fd the control socket hands out"
check_eq "mmap(MAP_PRIVATE) through the mount reads the bytes" \
	"$(sha256sum <"$T/r1" | cut -d' ' -f1)" "$(map_private_sum "$M/huge/ram" $MiB $MiB)"

# --- an O_TRUNC open truncates (the kernel leaves it to the daemon) ---
echo hello >"$M/plain"
echo hi >"$M/plain"
check_eq "echo over a shmem file leaves only the new bytes" hi "$(cat "$M/plain")"
echo hello >"$M/huge/small"
echo hi >"$M/huge/small"
check_eq "echo over a hugetlb file: one page, the new bytes, then zeros" \
	"$((2 * MiB)) hi" "$(stat -c %s "$M/huge/small") $(head -c 3 "$M/huge/small")"
rm "$M/huge/small"

# --- sizes: whole pages, within the store ---
gm_log_mark
check_errno "truncate to 3 MiB: EINVAL" EINVAL truncate "$M/huge/ram" $((3 * MiB))
check_log "log: sizes are whole pages" "size $((3 * MiB)) refused: hugetlb-2m files are whole 2048 KiB pages"
check_errno "a second 2m file of 6 MiB (4 are left... 4 MiB): ENOSPC" ENOSPC \
	truncate "$M/huge/ram" $((10 * MiB))
check_eq "the refused sizes left it alone" $((4 * MiB)) "$(stat -c %s "$M/huge/ram")"

# --- 1g: no pages here; ENOSPC, or the fallback ---
mkdir "$M/g1" "$M/g1fb"
setfattr -n "$X" -v 1g "$M/g1"
setfattr -n "$X" -v 1g,fallback=2m-thp "$M/g1fb"
check_eq "getfattr shows the fallback form" 1g,fallback=2m-thp "$(gm_pagesize "$M/g1fb")"
check_errno "a 1g file: ENOSPC at create" ENOSPC create "$M/g1/f"
check "a 1g,fallback=2m-thp file is created" touch "$M/g1fb/f"
check_eq "... on shmem-thp" 2 "$(gm_info "$M/g1fb/f" provider)"
check_eq "... and keeps its policy" 1g,fallback=2m-thp "$(gm_pagesize "$M/g1fb/f")"
check_errno "an empty file cannot take the 1g policy either: ENOSPC" ENOSPC \
	setxattr "$M/g1fb/f" "$X" 1g

# --- auto: sized while unopened, to whole 2 MiB pages: hugetlb-2m ---
: >"$M/auto"
check_errno "truncate(2) an auto file to 4 MiB" OK truncate "$M/auto" $((4 * MiB))
check_eq "auto chose hugetlb-2m" 3 "$(gm_info "$M/auto" provider)"
: >"$M/auto-odd"
check_errno "truncate(2) an auto file to 3 MiB" OK truncate "$M/auto-odd" $((3 * MiB))
check_eq "auto chose shmem-advise for a size 2 MiB pages do not divide" 7 \
	"$(gm_info "$M/auto-odd" provider)"
check_errno "the store is full: the next 2m size is ENOSPC" ENOSPC \
	truncate "$M/huge/ram" $((6 * MiB))

# --- exit gives the pages back; a restart adopts the store ---
check "SIGTERM stops gmemfsd" gm_stop TERM
# The store stays mounted for the restart, so its pages hold files: the
# kernel turns them into surplus pages, which leave the persistent pool now
# and are freed when the store goes (common/hugepages.c counts it so).
check "log: the 4 pages went back (as surplus pages)" \
	grep -q "pool: gave 4 hugetlb-2m pages back to the kernel" "$GM_LOG"
gm_start --pool-size=64M --hugepages=2M:4 || gm_bail "gmemfsd restarts"
check "after the restart, the bytes are there" \
	cmp <(dd if="$M/huge/ram" bs=1M skip=1 count=1 status=none) "$T/r1"
check_eq "after the restart, the auto file is still on hugetlb-2m" 3 "$(gm_info "$M/auto" provider)"
check_eq "after the restart, the store is the one with the files" $((2 * MiB)) \
	"$(prov hugetlb-2m used)"

# --- emptied, the store goes at exit and every page goes back ---
rm -rf "$M/huge" "$M/auto"
check "SIGTERM stops gmemfsd" gm_stop TERM
check "log: with the store empty, exactly its 4 pages went back" \
	grep -q "pool: gave 4 hugetlb-2m pages back to the kernel" <(tail -n 20 "$GM_LOG")
# Pages the first daemon could not give back are free now: put them back
# as a difference (other users of the knob may have moved it meanwhile).
left=$(($(cat "$KNOB") - knob_at_start))
((left <= 0)) || echo $(($(cat "$KNOB") - left)) >"$KNOB"
check_eq "the kernel's 2 MiB pool is back where the test found it" \
	"$knob_at_start" "$(cat "$KNOB")"
gm_done
