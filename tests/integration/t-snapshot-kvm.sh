#!/bin/bash
#
# t-snapshot-kvm: t-snapshot's round for kvm-gmem files attached to a VM
# (snap-lib.sh's snap_suite): only the non-zero pages written, the image's
# data exactly there, a restore that reads back byte for byte, an
# incremental snapshot of only the changed pages with a ZERO extent for a
# page zeroed since the parent; then a restore into a file attached
# already, whose writes go into its guest_memfd.  meson runs it through
# tools/test-vm/need.sh --kvm: in the test guest where this machine has no
# /dev/kvm.  Not for: the refusals (t-snapshot, on shmem).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=snap-lib.sh
source "$GM_SRC/snap-lib.sh"
gm_require_kvm

KiB=1024
gm_init
snap_init
gm_start --pool-size=256M || gm_bail "gmemfsd mounts"

snap_suite kvm-gmem kvm-gmem $((4 * KiB)) 1024 0,9,100,1023 7 9 500 100 attach
check_eq "kvm-gmem: the source is attached" True \
	"$(gm_stats 'file("/kvm-gmem/vm.ram")["attached"]')"
# Restore into a file attached already: the writes go into its guest_memfd.
G=$M/kvm-gmem/attached.ram
: >"$G"
truncate -s $((1024 * 4 * KiB)) "$G"
"$GM_BIN/gm-ctl" "$SOCK" attach kvm-gmem/attached.ram kvm >/dev/null
# gm-ctl reads the mapping, which faults a zero page in: give it back.
fallocate -p -o 0 -l $((1024 * 4 * KiB)) "$G"
check_eq "kvm-gmem: the attached target holds no memory" 0 "$(stat -c %b "$G")"
check "kvm-gmem: restore into an attached file" "$GMEMCTL" restore "$S/kvm-gmem.b" "$G"
check "kvm-gmem: reads back through the mount" cmp "$T/kvm-gmem.v2" "$G"


gm_done
