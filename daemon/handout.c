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

/* Reopening through /proc gives the client its own file description (its
 * own offset and flags), where dup() would share the daemon's. */
static int handout_reopen(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int gm_handout_open(struct gm_fs *fs, struct gm_inode *inode)
{
	int err;

	(void)fs;
	err = -EISDIR;
	if (inode->type != S_IFREG || inode->is_virtual)
		goto out;
	pthread_mutex_lock(&inode->lock);
	err = inode->backing_fd < 0 ? -ENOENT : handout_reopen(inode->backing_fd);
	pthread_mutex_unlock(&inode->lock);
out:
	if (err < 0)
		gm_warn("handout: file %llu: no backing fd: %s",
		       (unsigned long long)inode->ino, strerror(-err));
	return err;
}

int gm_handout_attach_vm(struct gm_fs *fs, struct gm_inode *inode, int vm_fd)
{
	(void)fs;
	(void)vm_fd;
	gm_warn("handout: file %llu: not a kvm-gmem file",
	       (unsigned long long)inode->ino);
	return -EINVAL;
}
