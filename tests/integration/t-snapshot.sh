#!/bin/bash
#
# t-snapshot: gmemctl snapshot and restore on a real mount, for each
# backing: shmem-4k, 2m-thp and hugetlb-2m (--hugepages=2M:16, given back
# at exit); t-snapshot-kvm.sh does the same for kvm-gmem.  A file with patterned pages, holes
# and pages written with zeros is snapshotted: only the non-zero pages are
# written (SNAP_PAGES), the image has data exactly there and holes
# elsewhere, and a restore into a new file reads back byte for byte.  An
# incremental snapshot after changing a few pages writes only those, marks
# a page zeroed since the parent as a ZERO extent, and restores to the new
# content while the parent still restores to the old.  Then every refusal:
# a corrupted image byte (EIO naming the layer and extent, the target
# emptied or removed), a truncated image or index, a missing parent, a
# target of another size (EINVAL) or holding memory (EBUSY), an existing
# snapshot file (EEXIST), a truncate racing a snapshot; the daemon stays up
# and the other files intact.  Figures for 256 MiB are printed.
# Not for: the format's corner cases (check_snapfmt) or lazy restore.

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=snap-lib.sh
source "$GM_SRC/snap-lib.sh"

KNOB=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
KiB=1024
MiB=$((1 << 20))
gm_init
snap_init
have_huge=1
[[ -w $KNOB ]] || have_huge=0
hp=()
((have_huge)) && hp=(--hugepages=2M:16)
gm_start --pool-size=1G "${hp[@]}" || gm_bail "gmemfsd mounts"

# --- every backing ---
snap_suite shmem-4k 4k $((4 * KiB)) 2048 0,1,2,17,300,1025,2047 5,1500 17 40 2
snap_suite 2m-thp 2m-thp $((4 * KiB)) 2048 0,1,2,17,300,1025,2047 5,1500 300 41 1
if ((have_huge)); then
	snap_suite hugetlb-2m 2m $((2 * MiB)) 8 0,3,4 5 3 6 0
	check_eq "hugetlb-2m: the files are hugetlb-2m" 3 "$(gm_info "$M/hugetlb-2m/vm.ram" provider)"
else
	gm_say "hugetlb-2m: skipped: $KNOB is not writable"
fi
# --- refusals, on shmem-4k's snapshots and in its directory (policy 4k) ---
A=$S/shmem-4k.a
B=$S/shmem-4k.b
F=$M/shmem-4k/vm.ram
M4=$M/shmem-4k
gm_log_mark
first=$((300 * 4 * KiB + 100))		# page 300: the child takes it from the parent
"${SNAP[@]}" flip "$A" $first
check_fails "a corrupted parent byte: restore fails with EIO" "Input/output error" \
	"$GMEMCTL" restore "$B" "$M4/bad1.ram"
check_fails "naming the layer and extent and that the file was emptied" \
	"layer 1 extent 2 at 0x12c000 (+0x1000): checksum mismatch" \
	"$GMEMCTL" restore "$B" "$M4/bad1.ram"
check "the target gmemctl created is removed again" test ! -e "$M4/bad1.ram"
: >"$M4/pre.ram"
check_fails "into a file that exists: the reply says it was emptied" "file emptied" \
	"$GMEMCTL" restore "$B" "$M4/pre.ram"
check_eq "which holds no memory" 0 "$(stat -c %b "$M4/pre.ram")"
check_eq "nor the size it did not have" 0 "$(stat -c %s "$M4/pre.ram")"
check_log "the daemon logs the file and the reason" "checksum mismatch"
"${SNAP[@]}" flip "$A" $first
check "with the byte put back, the restore works" "$GMEMCTL" restore "$B" "$M4/pre.ram"
check "and reads back" cmp "$T/shmem-4k.v2" "$M4/pre.ram"

cp "$A" "$S/trunc.img"
cp "$A.idx" "$S/trunc.img.idx"
truncate -s -4096 "$S/trunc.img"
check_fails "a truncated image: EINVAL" "Invalid argument" \
	"$GMEMCTL" restore "$S/trunc.img" "$M4/bad2.ram"
check_fails "saying so" "truncated image" "$GMEMCTL" restore "$S/trunc.img" "$M4/bad2.ram"
cp "$A" "$S/trunc.img"
truncate -s -10 "$S/trunc.img.idx"
check_fails "an index cut short: EINVAL saying so" "truncated or trailing bytes" \
	"$GMEMCTL" restore "$S/trunc.img" "$M4/bad2.ram"
truncate -s 100 "$S/trunc.img.idx"
check_fails "an index shorter than a header: EINVAL saying so" "truncated index" \
	"$GMEMCTL" restore "$S/trunc.img" "$M4/bad2.ram"
check "no target stays behind" test ! -e "$M4/bad2.ram"

mv "$A" "$S/moved"
check_fails "a missing parent: ENOENT" "No such file or directory" \
	"$GMEMCTL" restore "$B" "$M4/bad3.ram"
check_fails "naming it" "missing parent of layer 0: $A" \
	"$GMEMCTL" restore "$B" "$M4/bad3.ram"
check_fails "snapshot with a missing parent: ENOENT" "No such file or directory" \
	"$GMEMCTL" snapshot --parent "$A" "$F" "$S/c"
check "leaves no snapshot files" test ! -e "$S/c" -a ! -e "$S/c.idx"
mv "$S/moved" "$A"

check_fails "snapshot over an existing snapshot: EEXIST" "File exists" \
	"$GMEMCTL" snapshot "$F" "$A"
check "which is intact" "$GMEMCTL" restore "$A" "$M4/again.ram"
check "and reads back" cmp "$T/shmem-4k.v1" "$M4/again.ram"
truncate -s 1M "$M4/small.ram"
check_fails "restore into a file of another size: EINVAL" "Invalid argument" \
	"$GMEMCTL" restore "$A" "$M4/small.ram"
check_fails "naming both sizes" "is 1048576 bytes, the snapshot 8388608" \
	"$GMEMCTL" restore "$A" "$M4/small.ram"
check "a file that existed is not removed" test -e "$M4/small.ram"
check_fails "restore into a file holding memory: EBUSY" "Device or resource busy" \
	"$GMEMCTL" restore "$A" "$M4/again.ram"
check_fails "an incremental snapshot of a file of another size: EINVAL" "Invalid argument" \
	"$GMEMCTL" snapshot --parent "$A" "$M4/small.ram" "$S/d"
check "refused snapshots leave no files" test ! -e "$S/d" -a ! -e "$S/d.idx"

# --- permissions: snapshot needs read, restore write; files are the client's ---
mkdir -m 0777 "$T/nobody"
chmod 0644 "$F"
check "nobody may snapshot a file it can read" \
	gm_as_nobody "$GMEMCTL" snapshot "$F" "$T/nobody/s"
check_eq "into files it owns" 65534 "$(stat -c %u "$T/nobody/s.idx")"
check_fails "nobody may not restore into root's 0644 file: EACCES" "Permission denied" \
	gm_as_nobody "$GMEMCTL" restore "$T/nobody/s" "$M4/pre.ram"
chmod 0600 "$F"
check_fails "nor snapshot a file it cannot read: EACCES" "Permission denied" \
	gm_as_nobody "$GMEMCTL" snapshot "$F" "$T/nobody/s2"
check "and the refused snapshot leaves no files" test ! -e "$T/nobody/s2" -a ! -e "$T/nobody/s2.idx"
chmod 0644 "$F"

# --- 256 MiB: figures, progress, and a truncate racing a snapshot ---
mkdir "$T/tmpfs"
mount -t tmpfs -o size=1G tmpfs "$T/tmpfs"
big=$M/shmem-4k/big.ram
head -c 256M /dev/urandom >"$big"
snap "$big" "$T/tmpfs/big"
check_eq "256 MiB: every page written" 65536 "$(jget pages <<<"$out")"
gm_say "snapshot of 256 MiB to tmpfs: $(jget ns <<<"$out") ns"
out=$("$GMEMCTL" restore "$T/tmpfs/big" "$M/shmem-4k/big2.ram")
check "256 MiB: restore" test $? -eq 0
gm_say "$out"
check "256 MiB: reads back" cmp "$big" "$M/shmem-4k/big2.ram"
rm -f "$T/tmpfs/big" "$T/tmpfs/big.idx" "$M/shmem-4k/big2.ram"
out=$(script -qec "$GMEMCTL snapshot $big $T/tmpfs/big" /dev/null)
check "on a terminal, a progress bar reaches 100%" grep -q "100%" <<<"$out"
rm -f "$T/tmpfs/big" "$T/tmpfs/big.idx"
head -c 256M /dev/urandom >"$big"
"$GMEMCTL" snapshot "$big" "$T/tmpfs/race" >"$T/race.out" 2>&1 &
racer=$!
for ((i = 0; i < 2000; i++)); do
	gm_alive "$racer" || break
	truncate -s 0 "$big"
	truncate -s 256M "$big"
done
wait "$racer"
rc=$?
if ((rc)); then
	check "a snapshot raced by a truncate fails with a reason" \
		grep -q "changed size" "$T/race.out"
else
	gm_pass "a snapshot raced by a truncate finished first"
fi
check "the daemon is still up" gm_live_mount
check "the other files are intact" cmp "$T/shmem-4k.v2" "$F"
umount "$T/tmpfs"
gm_done
