/*
 * kvm-gmem: what the rest of the daemon (handout.c) and the tests need of
 * the KVM guest_memfd provider beyond its table, and the KVM uapi it uses,
 * for build hosts whose <linux/kvm.h> predates guest_memfd (Debian 12's
 * 6.1 headers; the numbers are the kernel's ABI).
 *
 * Not for: the provider's mechanics (prov_kvm_gmem.c).
 */
#ifndef GM_PROV_KVM_GMEM_H
#define GM_PROV_KVM_GMEM_H

#include <stdint.h>
#include <linux/kvm.h>

#include "pool.h"

#ifndef KVM_CREATE_GUEST_MEMFD
struct kvm_create_guest_memfd {
	__u64 size;
	__u64 flags;
	__u64 reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD	_IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#endif
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

/* Create the guest_memfd of file id on the VM behind vm_fd, sized as the
 * file, move what was written to the file before into it, and return a
 * new fd on it (O_CLOEXEC) for the client.  Takes pool->lock; the caller
 * holds the file's inode lock.  fd or -errno (logged): -EBUSY if attached
 * already, -EINVAL for an empty file or a vm_fd that is no KVM VM,
 * -ENOSPC if the pool cannot hold the file's size. */
int prov_kvm_gmem_attach(struct gm_pool *pool, struct gm_prov_inst *pi, uint64_t id,
			 int staging_fd, int vm_fd);
/* A new fd on the file's guest_memfd; -ENODEV (logged) before attach. */
int prov_kvm_gmem_dup(struct gm_prov_inst *pi, uint64_t id);
/* Is the file bound to a VM? */
bool prov_kvm_gmem_attached(struct gm_prov_inst *pi, uint64_t id);

#endif
