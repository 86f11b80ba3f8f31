/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The KVM guest_memfd uapi that gmemfs uses, for build hosts whose
 * <linux/kvm.h> predates it (Debian 12's 6.1 headers).  These are the
 * kernel's numbers (include/uapi/linux/kvm.h of 6.18), not gmemfs's: each
 * is defined only where the system header lacks it, and must never differ
 * from the kernel's.
 *
 * Not for: gmemfs's own ABI (gmemfs.h, gmemfs_ctl.h); not installed.
 */
#ifndef _GMEMFS_KVM_COMPAT_H
#define _GMEMFS_KVM_COMPAT_H

#include <linux/kvm.h>

#ifndef KVM_SET_USER_MEMORY_REGION2
struct kvm_userspace_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 \
	_IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#endif
#ifndef KVM_CREATE_GUEST_MEMFD
struct kvm_create_guest_memfd {
	__u64 size;
	__u64 flags;
	__u64 reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD	_IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#endif
#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD	(1UL << 2)
#endif
#ifndef KVM_CAP_GUEST_MEMFD
#define KVM_CAP_GUEST_MEMFD	234
#endif
#ifndef KVM_CAP_GUEST_MEMFD_FLAGS
#define KVM_CAP_GUEST_MEMFD_FLAGS 244
#endif
#ifndef GUEST_MEMFD_FLAG_MMAP
#define GUEST_MEMFD_FLAG_MMAP		(1ULL << 0)
#define GUEST_MEMFD_FLAG_INIT_SHARED	(1ULL << 1)
#endif
#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT	39
#endif
/* <linux/magic.h>: newer kernels (7.3 has it) give guest_memfd files a
 * pseudo filesystem of their own; older ones make them anon inodes. */
#ifndef GUEST_MEMFD_MAGIC
#define GUEST_MEMFD_MAGIC	0x474d454d	/* "GMEM" */
#endif

#endif /* _GMEMFS_KVM_COMPAT_H */
