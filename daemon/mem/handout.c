/*
 * Backing fds for control-socket clients (see handout.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/fd_path.h"
#include "mem/backing.h"
#include "mem/handout.h"
#include "core/log.h"
#include "prov/kvm_gmem.h"

/* Reopening through /proc gives the client its own file description (its
 * own offset and flags), where dup() would share the daemon's. */
static int handout_reopen(int fd)
{
	char path[GM_FD_PATH_LEN];

	fd = open(gm_fd_path(path, fd), O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* A backing the daemon keeps open for the file's life (the shim's). */
static int handout_reopen_held(struct gm_inode *inode)
{
	int fd = gm_backing_fd_get(inode);
	int err;

	if (fd < 0)
		return fd;
	err = handout_reopen(fd);
	gm_backing_fd_put(inode);
	return err;
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
	if (!inode->pi)
		err = -ENOENT;
	else if (handout_is_kvm_gmem(inode))
		/* Its memory is the guest_memfd, not the staging file. */
		err = prov_kvm_gmem_dup(inode->pi, inode->ino);
	else if (inode->pi->prov->reopen)
		/* By name, as the daemon reopens it: a new description, and
		 * the daemon's own fd need not be open. */
		err = inode->pi->prov->backing_open(inode->pi, inode->ino, false);
	else
		err = handout_reopen_held(inode);
	pthread_mutex_unlock(&inode->lock);
out:
	if (err < 0)
		gm_warn("handout: file %llu: no backing fd: %s",
		       (unsigned long long)inode->ino, strerror(-err));
	return err;
}

int gm_handout_adopt_gmem(struct gm_fs *fs, struct gm_inode *inode, int gmem_fd, char *why,
			  size_t why_len)
{
	int err;

	err = -EINVAL;
	snprintf(why, why_len, "not a kvm-gmem file (set %s to kvm-gmem while it is empty)",
		 GMEMFS_XATTR_PAGESIZE);
	if (inode->type != S_IFREG || inode->is_virtual)
		return err;
	pthread_mutex_lock(&inode->lock);
	if (handout_is_kvm_gmem(inode)) {
		int fd = gm_backing_fd_get(inode);	/* kvm-gmem keeps it: never fails */

		err = fd;
		if (fd >= 0) {
			err = prov_kvm_gmem_adopt(&fs->pool, inode->pi, inode->ino, fd, gmem_fd,
						  why, why_len);
			gm_backing_fd_put(inode);
		}
	}
	pthread_mutex_unlock(&inode->lock);
	return err;
}
