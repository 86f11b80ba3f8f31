/*
 * Backing fds for control-socket clients (see handout.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "handout.h"
#include "log.h"
#include "prov_kvm_gmem.h"

/* Reopening through /proc gives the client its own file description (its
 * own offset and flags), where dup() would share the daemon's. */
static int handout_reopen(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static bool handout_is_kvm_gmem(struct gm_inode *inode)
{
	return inode->pi && inode->pi->prov->id == GMEMFS_PROV_KVM_GMEM;
}

int gm_handout_open(struct gm_fs *fs, struct gm_inode *inode)
{
	int err;

	(void)fs;
	err = -EISDIR;
	if (inode->type != S_IFREG || inode->is_virtual)
		goto out;
	pthread_mutex_lock(&inode->lock);
	if (inode->backing_fd < 0)
		err = -ENOENT;
	else if (handout_is_kvm_gmem(inode))
		/* Its memory is the guest_memfd, not the staging file. */
		err = prov_kvm_gmem_dup(inode->pi, inode->ino);
	else
		err = handout_reopen(inode->backing_fd);
	pthread_mutex_unlock(&inode->lock);
out:
	if (err < 0)
		gm_warn("handout: file %llu: no backing fd: %s",
		       (unsigned long long)inode->ino, strerror(-err));
	return err;
}

int gm_handout_attach_vm(struct gm_fs *fs, struct gm_inode *inode, int vm_fd)
{
	int err;

	err = -EINVAL;
	if (inode->type != S_IFREG || inode->is_virtual)
		goto out_refused;
	pthread_mutex_lock(&inode->lock);
	if (!handout_is_kvm_gmem(inode)) {
		pthread_mutex_unlock(&inode->lock);
		goto out_refused;
	}
	err = prov_kvm_gmem_attach(&fs->pool, inode->pi, inode->ino, inode->backing_fd, vm_fd);
	pthread_mutex_unlock(&inode->lock);
	return err;

out_refused:
	gm_warn("handout: file %llu: not a kvm-gmem file (set %s to kvm-gmem while it "
		"is empty)", (unsigned long long)inode->ino, GMEMFS_XATTR_PAGESIZE);
	return err;
}
