/*
 * kvm-gmem: what the rest of the daemon (handout.c) and the tests need of
 * the KVM guest_memfd provider beyond its table (the KVM uapi it uses is
 * uapi/kvm_compat.h's).
 *
 * Not for: the provider's mechanics (kvm_gmem.c).
 */
#ifndef GM_PROV_KVM_GMEM_H
#define GM_PROV_KVM_GMEM_H

#include <stdint.h>

#include "kvm_compat.h"
#include "mem/pool.h"

/* Is fd a KVM guest_memfd (what KVM_CREATE_GUEST_MEMFD returns)? */
bool prov_kvm_gmem_is_gmem(int fd);
/* Adopt gfd, a guest_memfd a VMM created on its own VM, as the memory of
 * file id: check it has the file's size rounded up to 4 KiB and that its
 * pages can be mapped and read from here (MMAP | INIT_SHARED), reserve the
 * size in the pool, keep a duplicate of gfd and move the staged bytes in.
 * Takes pool->lock; the caller holds the file's inode lock.  0 or -errno,
 * and then why (why_len bytes) says the reason: -EBADF gfd is no
 * guest_memfd, -EBUSY attached already, -EINVAL an empty file or a
 * guest_memfd of another size, -EOPNOTSUPP not mappable or not shared,
 * -ENOSPC the pool cannot hold the size.  On a refusal the file, its
 * staged bytes and the pool are as they were. */
int prov_kvm_gmem_adopt(struct gm_pool *pool, struct gm_prov_inst *pi, uint64_t id,
			int staging_fd, int gfd, char *why, size_t why_len);
/* A new fd on the file's guest_memfd; -ENODEV (logged) before attach. */
int prov_kvm_gmem_dup(struct gm_prov_inst *pi, uint64_t id);
/* Is the file bound to a VM? */
bool prov_kvm_gmem_attached(struct gm_prov_inst *pi, uint64_t id);

#endif
