#!/bin/bash
#
# t-kvmgmem: kvm-gmem files through a real mount before any VM is attached
# (attaching needs a client's VM fd: check_prov_kvm and t-guest).  Such a
# file keeps its size and bytes in its staging store: read, write,
# truncate and punch hole work through the mount, served by the daemon; a
# shared mmap through the mount fails with ENODEV; a restart keeps both.
# Not for: the guest_memfd itself.

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

MiB=$((1 << 20))
gm_init
M=$GM_MNT
T=$GM_TMP
gm_start --pool-size=64M || gm_bail "gmemfsd mounts"

mkdir "$M/vm"
check "setfattr kvm-gmem on a directory" setfattr -n user.gmemfs.pagesize -v kvm-gmem "$M/vm"
gm_log_mark
head -c 2M /dev/urandom >"$T/r2"
check "write 2 MiB into a kvm-gmem file" dd if="$T/r2" of="$M/vm/ram" bs=1M status=none
check "read it back" cmp "$M/vm/ram" "$T/r2"
check_eq "ioctl: provider kvm-gmem" 5 "$(gm_info "$M/vm/ram" provider)"
check_eq "stats: provider kvm-gmem" kvm-gmem "$(gm_stats 'file("/vm/ram")["provider"]')"
check_eq "stats: not attached to a VM" False "$(gm_stats 'file("/vm/ram")["attached"]')"
check_cond "stats: the daemon served reads and writes" \
	"$(gm_stats 'd["requests"]["read"]') > 0 && $(gm_stats 'd["requests"]["write"]') > 0"
check_fails "mmap(MAP_SHARED) through the mount: ENODEV" "No such device" \
	python3 -c 'import mmap, os, sys
mmap.mmap(os.open(sys.argv[1], os.O_RDWR), 4096, mmap.MAP_SHARED)' "$M/vm/ram"
check_log "log: the open names the control-socket way" \
	"kvm-gmem files are served without passthrough"
check "truncate to 8 MiB" truncate -s 8M "$M/vm/ram"
check "punch the first 4 KiB" fallocate -p -o 0 -l 4096 "$M/vm/ram"
check "the punched page reads as zeros" \
	cmp <(dd if="$M/vm/ram" bs=4096 count=1 status=none) <(head -c 4096 /dev/zero)
check "the rest is intact" \
	cmp <(dd if="$M/vm/ram" bs=4096 skip=1 count=511 status=none) <(tail -c +4097 "$T/r2")

check "SIGTERM stops gmemfsd" gm_stop TERM
gm_start --pool-size=64M || gm_bail "gmemfsd restarts"
check_eq "after the restart: the size" $((8 * MiB)) "$(stat -c %s "$M/vm/ram")"
check "after the restart: the staged bytes" \
	cmp <(dd if="$M/vm/ram" bs=4096 skip=1 count=511 status=none) <(tail -c +4097 "$T/r2")
gm_done
