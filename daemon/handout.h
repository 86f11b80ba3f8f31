/*
 * Backing file descriptors handed to clients of the control socket: the way
 * a VMM gets memory that FUSE passthrough cannot serve (hugetlbfs files,
 * KVM guest_memfd) and, for any file, the backing itself.
 *
 * A handed-out fd is the client's own: the daemon keeps no count of it, and
 * the kernel keeps the memory alive while it is open or mapped, as for an
 * unlinked open file.  Shrinking a file mapped through such an fd is refused
 * the same way as through the mount (mapped.c matches the backing inode).
 *
 * Not for: the socket and its messages (the control-socket files), or
 * choosing a provider (policy.c, backing.c).
 */
#ifndef GM_HANDOUT_H
#define GM_HANDOUT_H

#include "fs.h"

/* A new fd, O_RDWR|O_CLOEXEC with its own open file description, on the
 * backing of regular file inode.  fd or -errno (logged, naming the file). */
int gm_handout_open(struct gm_fs *fs, struct gm_inode *inode);

/* Bind a kvm-gmem file to the VM behind vm_fd (a KVM VM fd the client
 * passed) and return the guest_memfd fd for KVM_SET_USER_MEMORY_REGION2.
 * fd or -errno: -EINVAL if the file's provider is not kvm-gmem. */
int gm_handout_attach_vm(struct gm_fs *fs, struct gm_inode *inode, int vm_fd);

#endif
