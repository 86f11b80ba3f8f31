/*
 * kvm-gmem: what the rest of the daemon (handout.c) and the tests need of
 * the KVM guest_memfd provider beyond its table (the KVM uapi it uses is
 * uapi/kvm_compat.h's).
 *
 * Not for: the provider's mechanics (prov_kvm_gmem.c).
 */
#ifndef GM_PROV_KVM_GMEM_H
#define GM_PROV_KVM_GMEM_H

#include <stdint.h>

#include "kvm_compat.h"
#include "pool.h"

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
