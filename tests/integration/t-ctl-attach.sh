#!/bin/bash
#
# t-ctl-attach: the attach-vm command with a real KVM VM fd.  Files other
# than kvm-gmem ones are refused with EINVAL and a reason naming the file's
# policy; a non-KVM fd, or none, with EBADF; the VM fd is never kept.
# Not for: attaching kvm-gmem files (the providers' tests).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
[[ -c /dev/kvm ]] || gm_skip "/dev/kvm is missing"

gm_start --pool-size=128M || gm_bail "gmemfsd mounts"
M=$GM_MNT
SOCK=$GM_STATE.sock
truncate -s 2M "$M/shmem.ram"
mkdir "$M/d"

check_eq "attach-vm of a shmem file with a KVM VM fd: EINVAL" \
	"error EINVAL: file $(gm_info "$M/shmem.ram" id) (policy auto) cannot be bound to a VM: only kvm-gmem files can" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach shmem.ram kvm)"
check_eq "attach-vm with /dev/null: EBADF" "error EBADF" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach shmem.ram devnull | cut -d: -f1)"
check_eq "attach-vm without an fd: EBADF" "error EBADF" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach shmem.ram none | cut -d: -f1)"
check_eq "attach-vm of a directory: EISDIR" "error EISDIR" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach d kvm | cut -d: -f1)"
check_eq "attach-vm as nobody of root's 0644 file: EACCES" "error EACCES" \
	"$("$GM_BIN/gm-ctl" --as 65534:65534 "$SOCK" attach shmem.ram kvm | cut -d: -f1)"
pid=$(gm_lock_holders "$GM_STATE/lock" | head -n 1)
check_eq "the daemon kept no KVM VM fd" 0 \
	"$(find "/proc/$pid/fd" -lname 'anon_inode:kvm-vm' 2>/dev/null | wc -l)"

gm_done
