#!/bin/bash
#
# t-lazy: lazy restore of a KVM guest's memory from a gmemfs snapshot.
# VMM 1's guest writes the pattern to every page of a shmem file, the host
# adds full DATA pages and HOLE pages, `gmemctl snapshot` takes it; then
# second VMMs (gm-lazy, each its own process) restore it lazily and their
# guests check every page:
#   (a) gmemfs's handshake, anonymous private memory (MISSING);
#   (b) gmemfs's handshake with PATH: a new mount file mapped shared,
#       MISSING|MINOR, pages the prefetcher put in the page cache mapped
#       with UFFDIO_CONTINUE, the file's bytes equal to the source after;
#   (c) Firecracker's handshake through `gmemctl serve-uffd`, by a client
#       that does what Firecracker does, two regions at an offset;
#   (d) a working set recorded by one restore (the first quarter checked)
#       and prefetched by the next, which still checks everything;
#   (e) the VMM discards pages mid-restore and reads zeros there;
#   (f) the VMM is SIGKILLed mid-restore: its session goes, the daemon's
#       fds come back to what they were, and it still serves;
#   (g) refusals with reasons: a corrupt image (the guest gets SIGBUS at
#       the page; prefetched, the index's checked copy of the working set
#       serves it right, and a bad copy sends the prefetcher to the image;
#       an index rewritten as format version 1 still restores, prefetched),
#       a region beyond the snapshot, a PATH file of another size, bad
#       Firecracker messages (JSON, two fds, no fd, size);
#   (h) the daemon stops mid-restore: it places the rest first, and
#       poisons a corrupt unit nobody touched yet instead of giving up.
# Also a hugetlb-2m file's backing (2 MiB units) where the kernel has huge
# pages (gmemfsd adds them with --hugepages and gives them back).
# Not for: the snapshot format or eager restore (t-snapshot.sh).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_require_kvm
[[ -c /dev/userfaultfd ]] || gm_skip "/dev/userfaultfd is missing"
GMEMCTL=${GMEMCTL:-$GM_BUILD_ROOT/tools/gmemctl/gmemctl}
gm_init

MIB=32
SEED=0x5eed1a2e
KNOB=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
HUGE=()
[[ -w $KNOB ]] && HUGE=(--hugepages=2M:$((MIB / 2)))
gm_start --pool-size=$((6 * MIB))M "${HUGE[@]}" || gm_bail "gmemfsd mounts"
M=$GM_MNT
SNAP=$GM_TMP/vm.snap
LAZY=$GM_BIN/gm-lazy

daemon_fds() { find "/proc/$GM_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
sessions_json() { "$GMEMCTL" --json sessions "$M"; }
# shellcheck disable=SC2317 # called through check and gm_poll
no_sessions() { [[ $(sessions_json) == "[]" ]]; }

# --- the source VM and its snapshot ---
gm_run_vmm source "$LAZY" source "$M" src.ram $MIB $SEED
check "gmemctl snapshot of the source file" "$GMEMCTL" snapshot "$M/src.ram" "$SNAP"
FDS0=$(daemon_fds)

# --- (a) own handshake, anonymous memory ---
gm_log_mark
gm_run_vmm anon "$LAZY" restore "$M" "$SNAP" $MIB $SEED
check_cond "anon: the daemon served faults (unit-sized)" "$(gm_vmm_fig anon faults) > 0"
check_cond "anon: fewer faults than pages: a fault places a whole unit" \
	"$(gm_vmm_fig anon faults) < $MIB * 256"
check_log "anon: the session's last line has the fault service figures" "fault service p50"
gm_say "anon: fault service p50 $(gm_vmm_fig anon p50_ns) ns, p99 $(gm_vmm_fig anon p99_ns) ns," \
	"$(gm_vmm_fig anon faults) faults of $(gm_vmm_fig anon unit) bytes"
grep '^# restore' "$GM_TMP/anon.out" | sed 's/^# /# anon: /'
check "anon: the session is gone once the VMM exited" gm_poll 10 no_sessions

# --- a hugetlb-2m file: 2 MiB pages, so 2 MiB units ---
if ((${#HUGE[@]})); then
	gm_run_vmm hugetlb "$LAZY" restore --no-prefetch --hugetlb huge.ram "$M" "$SNAP" $MIB $SEED
	check_eq "hugetlb: a fault places a whole 2 MiB page" $((2 << 20)) "$(gm_vmm_fig hugetlb unit)"
	check_eq "hugetlb: one fault per 2 MiB page" $((MIB / 2)) "$(gm_vmm_fig hugetlb faults)"
	rm -f "$M/huge.ram"
else
	gm_say "no 2 MiB hugetlb pages on this kernel: the hugetlb part is left out"
fi

# --- (d) working set: record a quarter, then prefetch it ---
cp "$SNAP.idx" "$GM_TMP/idx.orig"
gm_run_vmm ws-record "$LAZY" restore --record-ws --first $((MIB * 64)) "$M" "$SNAP" $MIB $SEED
check "ws: the session ended" gm_poll 10 no_sessions
check_log "ws: the faulted order was stored in the index" "stored a working set of"
gm_log_mark
gm_run_vmm ws-prefetch "$LAZY" restore --wait 300 "$M" "$SNAP" $MIB $SEED
check_cond "ws: the prefetcher placed the working set" "$(gm_vmm_fig ws-prefetch prefetched) > 0"
check_cond "ws: faults were fewer than without a working set" \
	"$(gm_vmm_fig ws-prefetch faults) < $(gm_vmm_fig anon faults)"
gm_say "ws: prefetched $(gm_vmm_fig ws-prefetch prefetched) bytes;" \
	"faults $(gm_vmm_fig ws-prefetch faults) (vs $(gm_vmm_fig anon faults) without)"
gm_run_vmm ws-noprefetch "$LAZY" restore --no-prefetch "$M" "$SNAP" $MIB $SEED
check_eq "ws: --no-prefetch prefetches nothing" 0 "$(gm_vmm_fig ws-noprefetch prefetched)"

# --- (b) own handshake, shmem MINOR with PATH ---
gm_run_vmm minor "$LAZY" restore --shm dst.ram --wait 300 "$M" "$SNAP" $MIB $SEED
check_cond "minor: prefetched pages were mapped with UFFDIO_CONTINUE" "$(gm_vmm_fig minor minor) > 0"
check "minor: the file's bytes through the mount equal the source's" \
	cmp "$M/src.ram" "$M/dst.ram"
rm -f "$M/dst.ram"
truncate -s 16M "$M/small.ram"
check_fails "path: a PATH file of another size is refused, both sizes named" \
	"the file has 16777216 bytes, the snapshot 33554432" \
	"$LAZY" restore --path small.ram "$M" "$SNAP" $MIB $SEED
: >"$M/g.ram"
setfattr -n user.gmemfs.pagesize -v kvm-gmem "$M/g.ram"
truncate -s ${MIB}M "$M/g.ram"
check_fails "path: a kvm-gmem file is refused: guest_memfd has no userfaultfd" \
	"guest_memfd has no userfaultfd support" \
	"$LAZY" restore --path g.ram "$M" "$SNAP" $MIB $SEED
rm -f "$M/small.ram" "$M/g.ram"

# --- (c) Firecracker's handshake ---
FCSOCK=$GM_TMP/fc.sock
"$GMEMCTL" serve-uffd --mount="$M" "$SNAP" "$FCSOCK" >"$GM_TMP/serve.out" 2>&1 &
SERVE=$!
GM_KIDS+=("$SERVE")
check "serve-uffd listens" gm_poll 10 grep -q listening "$GM_TMP/serve.out"
check_fails "a second listener on a live socket is refused" "Address already in use" \
	"$GMEMCTL" serve-uffd --mount="$M" "$SNAP" "$FCSOCK"
: >"$GM_TMP/not-a-socket"
check_fails "a listener on a path that is no socket is refused" "File exists" \
	"$GMEMCTL" serve-uffd --mount="$M" "$SNAP" "$GM_TMP/not-a-socket"
gm_run_vmm fc "$LAZY" fc "$FCSOCK" $MIB $SEED 32
for kind in json two-fds no-fd size; do
	gm_log_mark
	gm_run_vmm "fc-bad-$kind" "$LAZY" fc-bad "$kind" "$FCSOCK"
	check_log "fc-bad-$kind: the daemon logs why" "Firecracker handshake at $FCSOCK"
done
check "fc: the listener still takes VMMs after refusals" \
	timeout 120 "$LAZY" fc "$FCSOCK" $MIB $SEED 16
kill -TERM "$SERVE"
check "serve-uffd ends on SIGTERM" gm_poll 10 gm_dead "$SERVE"
check "the listener's socket is removed" gm_poll 10 test ! -e "$FCSOCK"

# --- (e) the VMM discards memory mid-restore ---
gm_run_vmm remove "$LAZY" restore --remove "$M" "$SNAP" $MIB $SEED
check_cond "remove: the daemon saw the discarded bytes" "$(gm_vmm_fig remove removed) > 0"

# --- (f) the VMM dies mid-restore ---
fds_back() { [[ $(daemon_fds) == "$FDS0" ]]; }
check "before the kill, the daemon's fds are back to $FDS0 (those after the snapshot)" \
	gm_poll 10 fds_back
fds_back || find "/proc/$GM_PID/fd" -mindepth 1 -printf '#   %f -> %l\n'
"$LAZY" restore --stall "$M" "$SNAP" $MIB $SEED >"$GM_TMP/stall.out" 2>&1 &
STALL=$!
GM_KIDS+=("$STALL")
check "kill: the VMM is mid-restore" gm_poll 30 grep -q stalled "$GM_TMP/stall.out"
check_cond "kill: its session is listed" "$(sessions_json | grep -c "\"pid\":$STALL,")"
gm_log_mark
{ kill -KILL "$STALL" && wait "$STALL"; } 2>/dev/null
check "kill: the session is gone within 10 s" gm_poll 10 no_sessions
check_log "kill: the daemon logs the VMM's exit" "the VMM exited"
check "kill: the daemon's fd count is back to $FDS0" gm_poll 10 fds_back
gm_run_vmm after-kill "$LAZY" restore --first 64 "$M" "$SNAP" $MIB $SEED

# --- (g) refusals ---
gm_run_vmm beyond "$LAZY" restore --extra 16 "$M" "$SNAP" $MIB $SEED
cp "$SNAP" "$GM_TMP/bad.snap"
cp "$SNAP.idx" "$GM_TMP/bad.snap.idx"
# A byte of the first DATA page, past the guest's word.
printf '\xff' | dd of="$GM_TMP/bad.snap" bs=1 seek=$((16 * 4096 + 100)) conv=notrunc status=none
# No prefetch: the snapshot's index holds a checked copy of its working
# set (the bad page among it), which the prefetcher would place instead.
gm_log_mark
gm_run_vmm corrupt "$LAZY" restore --no-prefetch --expect-corrupt "$M" "$GM_TMP/bad.snap" \
	$MIB $SEED
check_log "corrupt: the daemon names the checksum failure" "checksum"
check_log "corrupt: and poisons the page" "the page is poisoned"

# The same image prefetched, the guest waiting until the prefetcher is
# done: the working set comes from the index's copy, checked against its
# own crcs, so the guest reads the right bytes where the image is bad.
gm_log_mark
gm_run_vmm corrupt-ws-copy "$LAZY" restore --wait 300 "$M" "$GM_TMP/bad.snap" $MIB $SEED
check_log "corrupt-ws-copy: the prefetcher read the index's working-set bytes" \
	"from the index's working-set bytes"
check_cond "corrupt-ws-copy: it placed the working set" "$(gm_vmm_fig corrupt-ws-copy prefetched) > 0"

# The index's copy bad instead (a byte of its first slot; the offset is the
# header's ws_data_offset, at byte 360): that slot fails its crc and the
# prefetcher reads the image from there on, so the guest still reads right.
cp "$SNAP" "$GM_TMP/badws.snap"
cp "$SNAP.idx" "$GM_TMP/badws.snap.idx"
wsoff=$(od -An -t u8 -j 360 -N 8 "$GM_TMP/badws.snap.idx" | tr -d ' ')
check_cond "badws: the index stores the working set's bytes" "${wsoff:-0} > 0"
printf '\xff' | dd of="$GM_TMP/badws.snap.idx" bs=1 seek=$((wsoff + 100)) conv=notrunc \
	status=none
gm_log_mark
gm_run_vmm badws "$LAZY" restore --wait 300 "$M" "$GM_TMP/badws.snap" $MIB $SEED
check_log "badws: the bad copy is named and the image read instead" \
	"fails its checksum: reading the image"

# A snapshot as an older daemon stored its working set (format version 1:
# the order alone, no bytes) still restores, its working set prefetched
# from the image.
cp "$SNAP" "$GM_TMP/v1.snap"
cp "$SNAP.idx" "$GM_TMP/v1.snap.idx"
check "v1: the index rewritten as version 1" python3 "$GM_SRC/gm-snap.py" v1 "$GM_TMP/v1.snap.idx"
check_eq "v1: its version field says 1" 1 \
	"$(od -An -t u4 -j 8 -N 4 "$GM_TMP/v1.snap.idx" | tr -d ' ')"
gm_log_mark
gm_run_vmm v1 "$LAZY" restore --wait 300 "$M" "$GM_TMP/v1.snap" $MIB $SEED
check_log "v1: the prefetcher read its working set from the image" "ms from the image: reading"
check_cond "v1: and placed it" "$(gm_vmm_fig v1 prefetched) > 0"
check "the daemon still serves after all that" gm_poll 10 no_sessions
gm_run_vmm last "$LAZY" restore --first 64 "$M" "$SNAP" $MIB $SEED

# stop_mid_restore NAME OUT ARGS...: a gm-lazy VMM restores with --stall
# and ARGS, writing to OUT; once it stalls, gmemfsd is stopped with SIGTERM
# (the log marked just before).  Its pid is left in STALL.
stop_mid_restore() {
	local name=$1 out=$2
	shift 2
	"$LAZY" restore --stall "$@" >"$out" 2>&1 &
	STALL=$!
	GM_KIDS+=("$STALL")
	check "$name: a VMM is mid-restore" gm_poll 30 grep -q stalled "$out"
	gm_log_mark
	check "$name: SIGTERM stops gmemfsd with a session running" gm_stop TERM
	check_eq "$name: gmemfsd's exit status is 0" 0 "$GM_STOP_STATUS"
}

# resume_stalled NAME WHAT: let the stalled VMM check its memory; its exit
# status must be 0 within 60 s (a page nobody serves would hang it).
resume_stalled() {
	local rc
	kill -USR1 "$STALL"
	check "$1: the VMM finishes within 60 s" gm_poll 60 gm_dead "$STALL"
	gm_dead "$STALL" || gm_reap "$STALL"
	wait "$STALL"
	rc=$?
	check_eq "$1: the VMM's exit status $2" 0 "$rc"
}

# --- the daemon stops while a VMM is mid-restore: it places the rest of the memory,
# ends and joins the session; the VMM then finds every page ---
stop_mid_restore stop "$GM_TMP/stall2.out" "$M" "$SNAP" $MIB $SEED
check_log "stop: the session ended because the daemon stops" "the daemon stops"
if ((${#HUGE[@]})); then
	check_log "stop: the huge pages gmemfsd added went back to the kernel" \
		"pool: gave $((MIB / 2)) hugetlb-2m pages back to the kernel"
fi
check_log "stop: gmemfsd placed the rest of the VMM's memory before it stopped" \
	"the daemon stops: placed the"
resume_stalled stop "after checking every page"
gm_relay "stop" "$GM_TMP/stall2.out"

# --- the daemon stops before a VMM touched a corrupt unit: it poisons that
# unit's pages and still places every other one.  Before, a unit that
# failed its checksum was marked placed (or ended the last pass), and the
# VMM read zeros at the corrupt page once the daemon's uffd was gone ---
gm_start --pool-size=$((6 * MIB))M || gm_bail "gmemfsd mounts again"
stop_mid_restore "stop, corrupt" "$GM_TMP/stall3.out" --no-prefetch --expect-corrupt \
	"$M" "$GM_TMP/bad.snap" $MIB $SEED
check_log "stop, corrupt: the daemon poisons the corrupt unit's pages" \
	"their pages are poisoned"
check_log "stop, corrupt: and still places the rest" "the daemon stops: placed the"
resume_stalled "stop, corrupt" "(other pages right, SIGBUS at the bad one)"
gm_relay "stop-corrupt" "$GM_TMP/stall3.out"
gm_done
