#!/bin/bash
#
# t-ctl-attach: the commands that hand a VMM memory FUSE cannot map, end to
# end through the socket.  attach-vm, where the VMM (gm-ctl, another
# process, as every VMM is) makes the guest_memfd on its own VM: files
# other than kvm-gmem ones are refused with EINVAL and a reason naming the
# file's policy; an fd that is no guest_memfd, or none, with EBADF; a
# client without write permission with EACCES; a guest_memfd of the wrong
# size with EINVAL naming both sizes; one the daemon cannot map or read
# (no MMAP, no INIT_SHARED) with EOPNOTSUPP; more than the pool holds with
# ENOSPC; and none of these changes the staged bytes, the pool or the
# file.  Then the attach: the bytes written through the mount before show
# in the guest_memfd mapping, what the VMM writes there reads back through
# the mount, a second attach is EBUSY with its reason, and the daemon holds
# one guest_memfd reference until the file goes.  A hugetlb-2m file through
# `gmemctl exec --fd 3=PATH -- CMD`, CMD mapping /dev/fd/3 as qemu's
# mem-path=/dev/fd/3 would: 2 MiB pages, and its bytes read back through
# the mount.
# Not for: the providers themselves (t-kvmgmem, t-hugetlb, check_prov_*).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_require_kvm
[[ -w /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages ]] ||
	gm_skip "no 2 MiB hugetlb pages on this kernel"
gm_init

gm_start --pool-size=128M --hugepages=2M:2 || gm_bail "gmemfsd mounts"
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

# --- a kvm-gmem file, attached by another process ---
# make_gmem_file PATH TEXT SIZE: a kvm-gmem file holding TEXT staged at 0.
make_gmem_file() {
	: >"$1"
	setfattr -n user.gmemfs.pagesize -v kvm-gmem "$1"
	printf '%s' "$2" | dd of="$1" conv=notrunc status=none
	truncate -s "$3" "$1"
}
G=$M/g.ram
make_gmem_file "$G" staged-before-attach 1M
chmod 0644 "$G"
gid=$(gm_info "$G" id)
gm_log_mark
check_eq "attach-vm of a kvm-gmem file as nobody (no write permission): EACCES" "error EACCES" \
	"$("$GM_BIN/gm-ctl" --as 65534:65534 "$SOCK" attach g.ram kvm | cut -d: -f1)"
check_eq "attach-vm with /dev/null for the guest_memfd: EBADF with the reason" \
	"error EBADF: the fd attached is not a guest_memfd (want the fd KVM_CREATE_GUEST_MEMFD returned on the VMM's VM)" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach g.ram devnull)"
check_eq "attach-vm of a kvm-gmem file without an fd: EBADF" "error EBADF" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach g.ram none | cut -d: -f1)"
check_eq "libgmemfs's attach_vm with /dev/null for the VM: EBADF before any attach is sent" \
	"error EBADF: the fd is not a KVM VM of this process (KVM_CHECK_EXTENSION: Inappropriate ioctl for device)" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach g.ram vm-devnull)"
check_eq "attach-vm of a guest_memfd 4 KiB short: EINVAL naming both sizes" \
	"error EINVAL: file $gid cannot be attached: the guest_memfd has 1044480 bytes, the file needs 1048576 (its 1048576 bytes rounded up to 4 KiB)" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach g.ram gmem-small)"
check_eq "attach-vm of a guest_memfd without MMAP: EOPNOTSUPP" \
	"error EOPNOTSUPP: file $gid cannot be attached: the guest_memfd cannot be mapped (No such device): create it with flags MMAP|INIT_SHARED" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach g.ram gmem-nommap)"
check_eq "attach-vm of a guest_memfd without INIT_SHARED: EOPNOTSUPP" \
	"error EOPNOTSUPP: file $gid cannot be attached: the guest_memfd's pages are not shared (Bad address): create it with flags MMAP|INIT_SHARED" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach g.ram gmem-private)"
B=$M/big.ram
# 127 MiB fits the 128 MiB budget as a size, not beside the 4 MiB hugetlb
# store as a reservation.
make_gmem_file "$B" big-staged 127M
check_eq "attach-vm of a file the pool cannot reserve: ENOSPC" \
	"error ENOSPC: file $(gm_info "$B" id) cannot be attached: the pool cannot reserve the file's 133169152 bytes" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach big.ram kvm)"
check_eq "after the refusals: the staged bytes are intact" staged-before-attach \
	"$(head -c 20 "$G")"
check_eq "after the refusals: the big file's staged bytes are intact" big-staged \
	"$(head -c 10 "$B")"
check_eq "after the refusals: still detached" False "$(gm_stats 'file("/g.ram")["attached"]')"
check_eq "after the refusals: the size is the file's" 1048576 "$(stat -c %s "$G")"
check_log "the daemon log names the file and the reason of a refusal" \
	"file $gid cannot be attached: the guest_memfd has 1044480 bytes"
used=$(gm_statfs_used)

out=$("$GM_BIN/gm-ctl" "$SOCK" attach g.ram kvm staged-before-attach written-by-the-vmm)
check_eq "attach-vm: gm-ctl's attach ran" 0 "$?"
check "attach-vm: the bytes written before attach are in the guest_memfd mapping" \
	grep -qx "mapping starts with EXPECT" <<<"$out"
check_eq "attach-vm: what the VMM wrote reads back through the mount" \
	written-by-the-vmm "$(head -c 18 "$G")"
check_eq "stats: attached" True "$(gm_stats 'file("/g.ram")["attached"]')"
check "attach-vm: the pool reserved the file's size (used grew by >= 1 MiB)" \
	test "$(gm_statfs_used)" -ge $((used + 1048576 - 20480))
printf 'through-the-mount' | dd of="$G" conv=notrunc status=none
check_eq "a write through the mount after the VMM closed its fd reads back" \
	through-the-mount "$(head -c 17 "$G")"
check_eq "a second attach, from another VM: EBUSY with its reason" \
	"error EBUSY: file $gid cannot be attached: already attached to a VM, and a guest_memfd cannot move to another: use a new file" \
	"$("$GM_BIN/gm-ctl" "$SOCK" attach g.ram kvm)"
pid=$(gm_lock_holders "$GM_STATE/lock" | head -n 1)
check_eq "the daemon holds one guest_memfd reference" 1 \
	"$(gm_gmem_fds "$pid")"

# --- a hugetlb file for a VMM that takes mem-path=/dev/fd/3 ---
H=$M/h.ram
: >"$H"
setfattr -n user.gmemfs.pagesize -v 2m "$H"
truncate -s 4M "$H"
out=$("$GMEMCTL" exec --fd 3="$H" -- "$GM_BIN/gm-mmap" /dev/fd/3 4M smaps)
check_eq "gmemctl exec --fd 3=hugetlb file: CMD maps /dev/fd/3" 0 "$?"
check_eq "gmemctl exec: /dev/fd/3 maps with 2 MiB pages" 2048 \
	"$(awk -F= '$1 == "KernelPageSize" { print $2 }' <<<"$out")"
check "gmemctl exec: CMD writes a pattern through /dev/fd/3" \
	"$GMEMCTL" exec --fd 3="$H" -- "$GM_BIN/gm-mmap" /dev/fd/3 4M write 7
check "gmemctl exec: the pattern reads back through the mount" \
	"$GM_BIN/gm-mmap" "$H" 4M pverify 7
check_fails "gmemctl exec of a file not on a gmemfs mount: refused, CMD not run" \
	"exec: connect for /dev/null: No such file or directory" \
	"$GMEMCTL" exec --fd 3=/dev/null -- true
rm -f "$G" "$H" "$B"

# shellcheck disable=SC2317 # called through gm_poll
no_gmem_refs() { [[ -z $(find "/proc/$pid/fd" -lname 'anon_inode:\[kvm-gmem\]' 2>/dev/null) ]]; }
check "the file removed, the daemon lets go of its guest_memfd (within 10 s)" \
	gm_poll 10 no_gmem_refs
check_eq "the daemon kept no KVM VM fd" 0 \
	"$(find "/proc/$pid/fd" -lname 'anon_inode:kvm-vm' 2>/dev/null | wc -l)"

gm_done
