#!/bin/bash
#
# t-pagesize: the user.gmemfs.pagesize policy decides the page size the
# kernel really uses.  A 64 MiB 2m-thp file populated through a mapping is
# held in huge pages: all of that mapping is PMD-mapped, and so is a second
# process's mapping of it afterwards (the file's own pages are huge, not
# just one mapping); a 4k file of the same size gets none.  An auto file
# (the default) gets huge pages in a mapping that asks (MADV_HUGEPAGE) and
# 4 KiB pages otherwise: a byte written into a sparse file costs 4 KiB.
# Every figure is
# the test's own mappings' (smaps), never the system-wide ShmemHugePages,
# which other tests running at the same time move.  Policies are inherited
# from directories by files created afterwards, a non-empty or open file's
# policy cannot change (EBUSY), bad values and unknown user.gmemfs.* names
# are EINVAL, and --pagesize sets the mount's default.
# Not for: restart (t-restart) or the pool (t-pool).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

shmem=/sys/kernel/mm/transparent_hugepage/shmem_enabled
if [[ -r $shmem ]]; then
	mode=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$shmem")
	case $mode in
	deny | force)
		gm_skip "shmem_enabled is [$mode]: it overrides every tmpfs huge= option," \
			"so the page size a policy gives cannot be observed (not changed here)" ;;
	esac
else
	gm_skip "no $shmem: kernel without shmem THP"
fi

gm_init
gm_start || gm_bail "gmemfsd mounts"
M=$GM_MNT
X=user.gmemfs.pagesize
SIZE=$((64 << 20))

smaps_field() { awk -F= -v k="$2" '$1 == k { print $2 }' <<<"$1"; }
# kB of a mapping (gm-mmap smaps output) mapped with PMDs: shmem or file.
pmd_mapped() {
	echo $(($(smaps_field "$1" ShmemPmdMapped) + $(smaps_field "$1" FilePmdMapped)))
}

# --- directory policies and inheritance ---
mkdir "$M/thp" "$M/small"
check "setfattr 2m-thp on a directory" setfattr -n "$X" -v 2m-thp "$M/thp"
check "setfattr 4k on a directory" setfattr -n "$X" -v 4k "$M/small"
check_eq "getfattr shows the directory's policy" 2m-thp "$(gm_pagesize "$M/thp")"
mkdir "$M/thp/sub"
: >"$M/thp/sub/deep"
check_eq "policy inherited through a subdirectory" 2m-thp "$(gm_pagesize "$M/thp/sub/deep")"

# --- a THP file really gets huge pages ---
smaps=$("$GM_BIN/gm-mmap" "$M/thp/vm" 64M smaps)
check_eq "THP file populated through a mapping" 0 "$?"
gm_say "THP file: smaps: $(echo "$smaps" | tr '\n' ' ')"
check_eq "THP file: all of the 2 MiB-aligned mapping is PMD-mapped" $((SIZE >> 10)) \
	"$(pmd_mapped "$smaps")"
smaps=$("$GM_BIN/gm-mmap" "$M/thp/vm" 64M smaps)
check_eq "THP file: a second process maps it" 0 "$?"
check_eq "THP file: its pages are huge: the second mapping is all PMD-mapped too" \
	$((SIZE >> 10)) "$(pmd_mapped "$smaps")"
check_eq "THP file: getfattr shows 2m-thp" 2m-thp "$(gm_pagesize "$M/thp/vm")"
check_eq "THP file: ioctl provider shmem-thp" 2 "$(gm_info "$M/thp/vm" provider)"
check_eq "THP file: ioctl page size 2 MiB" 2097152 "$(gm_info "$M/thp/vm" page_size)"
check_eq "THP file: stats provider" shmem-thp "$(gm_stats 'file("/thp/vm")["provider"]')"
check_eq "THP file: stats policy" 2m-thp "$(gm_stats 'file("/thp/vm")["policy"]')"

# --- a 4k file of the same size gets none ---
smaps=$("$GM_BIN/gm-mmap" "$M/small/vm" 64M smaps)
check_eq "4k file populated through a mapping" 0 "$?"
gm_say "4k file: smaps: $(echo "$smaps" | tr '\n' ' ')"
check_eq "4k file: nothing PMD-mapped" 0 "$(pmd_mapped "$smaps")"
check_eq "4k file: no anonymous huge pages either" 0 "$(smaps_field "$smaps" AnonHugePages)"
check_eq "4k file: all of it resident" $((SIZE >> 10)) "$(smaps_field "$smaps" Rss)"
smaps=$("$GM_BIN/gm-mmap" "$M/small/vm" 64M smaps)
check_eq "4k file: a second process's mapping has no PMD either" 0 "$(pmd_mapped "$smaps")"
check_eq "4k file: ioctl provider shmem-4k" 1 "$(gm_info "$M/small/vm" provider)"
check_eq "4k file: ioctl page size 4 KiB" 4096 "$(gm_info "$M/small/vm" page_size)"
check_eq "4k file: stats provider" shmem-4k "$(gm_stats 'file("/small/vm")["provider"]')"

# --- a file's own policy: only while empty and not open ---
# Every refused change below would move the file to another provider.
: >"$M/own"
check "setfattr 4k on an empty file" setfattr -n "$X" -v 4k "$M/own"
check_eq "its getfattr" 4k "$(gm_pagesize "$M/own")"
check_eq "its provider" 1 "$(gm_info "$M/own" provider)"
check "setfattr 2m-thp while still empty" setfattr -n "$X" -v 2m-thp "$M/own"
check_eq "its provider follows" 2 "$(gm_info "$M/own" provider)"
# shellcheck disable=SC2016 # the inner shell expands $1
check "write to it" bash -c 'echo data >"$1"' _ "$M/own"
check_errno "policy change of a non-empty file: EBUSY" EBUSY setxattr "$M/own" "$X" 4k
check_eq "policy unchanged" 2m-thp "$(gm_pagesize "$M/own")"
check_eq "provider unchanged" 2 "$(gm_info "$M/own" provider)"
check_eq "content unchanged" data "$(cat "$M/own")"
: >"$M/held"
check "setfattr 4k on another empty file" setfattr -n "$X" -v 4k "$M/held"
exec 3<"$M/held"
check_errno "policy change of an empty file open elsewhere: EBUSY" EBUSY \
	setxattr "$M/held" "$X" 2m-thp
exec 3<&-
check "after close it can change" setfattr -n "$X" -v 2m-thp "$M/held"
# The daemon waits for a release in flight: a holder that closes 0.5 s
# into the setfattr does not make it EBUSY (close() does not wait for
# FUSE's release, so ': >f; setfattr f' would race without this).
exec 3<"$M/held"
sleep 0.5 <&3 &
HOLDER=$!
GM_KIDS+=("$HOLDER")
exec 3<&-
check "a change waits for a holder that closes (up to 2 s)" setfattr -n "$X" -v 4k "$M/held"
gm_kid_done "$HOLDER"
check "and back to 2m-thp" setfattr -n "$X" -v 2m-thp "$M/held"
check_eq "and the provider follows" 2 "$(gm_info "$M/held" provider)"
check "and back to 4k" setfattr -n "$X" -v 4k "$M/held"
check_eq "the provider follows again" 1 "$(gm_info "$M/held" provider)"
check "auto is accepted on an empty file" setfattr -n "$X" -v auto "$M/held"
check_eq "auto: its getfattr" auto "$(gm_pagesize "$M/held")"
check_eq "auto: served by shmem-advise" 7 "$(gm_info "$M/held" provider)"

# --- auto (the default): huge pages for mappings that ask, 4 KiB otherwise ---
smaps=$("$GM_BIN/gm-mmap" "$M/auto-ram" 64M smaps-advised)
check_eq "auto file mapped with MADV_HUGEPAGE, as QEMU maps RAM" 0 "$?"
gm_say "auto file, advised: smaps: $(echo "$smaps" | tr '\n' ' ')"
check_eq "auto file: all of the advised mapping is PMD-mapped" $((SIZE >> 10)) \
	"$(pmd_mapped "$smaps")"
smaps=$("$GM_BIN/gm-mmap" "$M/auto-plain" 64M smaps)
check_eq "auto file: a mapping that does not ask gets 4 KiB pages" 0 "$(pmd_mapped "$smaps")"
truncate -s 100M "$M/auto-sparse"
check "auto file: a 1-byte write at 50 MiB of a sparse 100 MiB file" \
	dd if=/dev/zero of="$M/auto-sparse" bs=1 count=1 seek=50M conv=notrunc status=none
check_eq "auto file: it costs one 4 KiB page, not a 2 MiB one" 8 \
	"$(stat -c %b "$M/auto-sparse")"
check_eq "auto file: st_blksize 4 KiB, as tmpfs says" 4096 "$(stat -c %o "$M/auto-sparse")"
rm -f "$M/auto-ram" "$M/auto-plain" "$M/auto-sparse"

# --- a 4k file is written the way a user would: write(), no ftruncate ---
check "dd 8 MiB into a new 4k-policy file" \
	dd if=/dev/zero of="$M/small/written" bs=1M count=8 status=none
check_eq "all of it is there" $((8 << 20)) "$(stat -c %s "$M/small/written")"

# --- a directory's policy applies only to files created afterwards ---
: >"$M/small/before"
check "change a directory's policy" setfattr -n "$X" -v 2m-thp "$M/small"
: >"$M/small/after"
check_eq "older file keeps its policy" 4k "$(gm_pagesize "$M/small/before")"
check_eq "newer file gets the new one" 2m-thp "$(gm_pagesize "$M/small/after")"
check_eq "the populated 4k file keeps its provider" 1 "$(gm_info "$M/small/vm" provider)"

# --- bad values and names ---
for v in 1G 2M huge "" 4K-thp 1g,fallback=1g; do
	check_errno "pagesize value '$v': EINVAL" EINVAL setxattr "$M/held" "$X" "$v"
	check_errno "pagesize value '$v' on a dir: EINVAL" EINVAL setxattr "$M/thp" "$X" "$v"
done
check_errno "unknown user.gmemfs.* name on a file: EINVAL" EINVAL \
	setxattr "$M/held" user.gmemfs.color blue
check_errno "unknown user.gmemfs.* name on a dir: EINVAL" EINVAL \
	setxattr "$M/thp" user.gmemfs.pagesizes 4k
check_eq "directory policy unchanged by the bad values" 2m-thp "$(gm_pagesize "$M/thp")"
check "other user.* names are stored" setfattr -n user.gmemfs_not -v ok "$M/held"

# --- the mount's default policy ---
check "stop" gm_stop
gm_start --pagesize=4k || gm_bail "gmemfsd mounts with --pagesize=4k"
: >"$M/default4k"
check_eq "--pagesize=4k: new root file gets shmem-4k" 1 "$(gm_info "$M/default4k" provider)"
check_eq "existing THP file kept its policy" 2m-thp "$(gm_pagesize "$M/thp/vm")"
check "stop" gm_stop
gm_start --pagesize=2m-thp || gm_bail "gmemfsd mounts with --pagesize=2m-thp"
: >"$M/defaultthp"
check_eq "--pagesize=2m-thp: new root file gets shmem-thp" 2 "$(gm_info "$M/defaultthp" provider)"
mkdir "$M/d4"
check "setfattr 4k on a directory" setfattr -n "$X" -v 4k "$M/d4"
: >"$M/d4/f"
check_eq "a 4k directory wins over the mount default" 1 "$(gm_info "$M/d4/f" provider)"

gm_done
