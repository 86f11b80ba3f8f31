/*
 * Backing file descriptors handed to clients of the control socket: the way
 * a VMM gets memory that FUSE passthrough cannot serve (hugetlbfs files,
 * KVM guest_memfd) and, for any file, the backing itself.
 *
 * A kvm-gmem file goes the other way: the VMM hands the daemon the
 * guest_memfd it made on its own VM, since only the VM's process can.
 *
 * A handed-out fd is the client's own: the daemon keeps no count of it, and
 * the kernel keeps the memory alive while it is open or mapped, as for an
 * unlinked open file.  Shrinking a file mapped through such an fd is refused
 * the same way as through the mount (mapped.c matches the backing inode).
 *
 * Not for: the socket and its messages (the control-socket files), or
 * choosing a provider (meta/policy.c, backing.c).
 */
#ifndef GM_HANDOUT_H
#define GM_HANDOUT_H

#include "fs.h"

/* A new fd, O_RDWR|O_CLOEXEC with its own open file description, on the
 * backing of regular file inode.  fd or -errno (logged, naming the file). */
int gm_handout_open(struct gm_fs *fs, struct gm_inode *inode);

/* Make gmem_fd, a guest_memfd a VMM created on its own VM for the file
 * (see prov/kvm_gmem.h), the memory of kvm-gmem file inode.  The daemon
 * keeps its own fd; gmem_fd stays the caller's.  0 or -errno with the
 * reason in why (why_len bytes): -EINVAL if the file is not kvm-gmem, else
 * prov_kvm_gmem_adopt's refusals.  A refusal changes nothing. */
int gm_handout_adopt_gmem(struct gm_fs *fs, struct gm_inode *inode, int gmem_fd, char *why,
			  size_t why_len);

#endif
