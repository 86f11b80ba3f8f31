#!/bin/bash
#
# t-record-ws: a working set recorded from a KVM guest booted normally,
# without faults (userfaultfd RWP, PAGEMAP_SCAN's PAGE_IS_ACCESSED: Linux
# 7.2+, so it runs in the test guest through need.sh --rwp).  gm-lazy
# source writes a shmem file; gm-record's guest boots on it, the VMM arms
# the recording, `gmemctl record-ws` records while the guest reads set A,
# then set B; `gmemctl snapshot` stores what it saw as the snapshot's
# working set (format 2): exactly A's chunks then B's, in that order; a
# lazy restore of that snapshot prefetches it and its guest checks every
# page.  Also: record-ws of a file nobody armed is refused, with a reason.
# Not for: the lazy restore's own recording (t-lazy.sh).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_require_kvm
GMEMCTL=${GMEMCTL:-$GM_BUILD_ROOT/tools/gmemctl/gmemctl}
gm_init

MIB=32
SEED=0x5eed1a2e
gm_start --pool-size=$((4 * MIB))M || gm_bail "gmemfsd mounts"
M=$GM_MNT
SNAP=$GM_TMP/rec.snap


# the working set's chunk offsets in an index, space-separated
index_ws() {
	python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
version, = struct.unpack_from("<I", d, 8)
nr_ext, nr_ws = struct.unpack_from("<QQ", d, 40)
base = 392 + 24 * nr_ext
print(version, *(struct.unpack_from("<Q", d, base + 8 * i)[0] for i in range(nr_ws)))
PY
}

gm_run_vmm source "$GM_BIN/gm-lazy" source "$M" src.ram $MIB $SEED

if "$GMEMCTL" record-ws --duration 1 "$M/src.ram" >"$GM_TMP/unarmed.out" 2>&1; then
	gm_fail "record-ws of a file no VMM armed is refused"
else
	check "record-ws of a file no VMM armed is refused, with the reason" \
		grep -q "no VMM armed" "$GM_TMP/unarmed.out"
fi

gm_log_mark
gm_run_vmm record "$GM_BIN/gm-record" "$M" src.ram $MIB $SEED "$GMEMCTL"
check_log "record: the daemon logged the recording" "record-ws 'src.ram':"
read -r -a EXPECT <<<"$(sed -n 's/^# expect-ws //p' "$GM_TMP/record.out")"
check_eq "record: the VMM said which chunks its guest read" 16 "${#EXPECT[@]}"

gm_log_mark
check "gmemctl snapshot of the recorded file" "$GMEMCTL" snapshot "$M/src.ram" "$SNAP"
check_log "snapshot: it stored the recorded working set" "stored the recorded working set"
read -r -a GOT <<<"$(index_ws "$SNAP.idx")"
check_eq "snapshot: the index is format version 2 (with the working set's bytes)" 2 "${GOT[0]}"
check_eq "snapshot: its working set is set A's chunks then set B's, in that order" \
	"${EXPECT[*]}" "${GOT[*]:1}"

gm_run_vmm restore "$GM_BIN/gm-lazy" restore --wait 300 "$M" "$SNAP" $MIB $SEED
check_cond "restore: the prefetcher placed the recorded working set" \
	"$(gm_vmm_fig restore prefetched) >= 16 * 65536"
gm_say "restore: prefetched $(gm_vmm_fig restore prefetched) bytes," \
	"$(gm_vmm_fig restore faults) faults; guest read A, B in $(sed -n 's/^# guest-ns //p' "$GM_TMP/record.out") ns"

gm_done
