/*
 * chattr through the mount: FS_IOC_GETFLAGS/SETFLAGS (chattr, lsattr) and
 * FS_IOC_FSGETXATTR/FSSETXATTR (xfs_io) on files and directories, which
 * the kernel sends as FUSE ioctls after its own permission checks.  Only
 * the flags tmpfs supports (meta/iflags.h); anything else is EOPNOTSUPP, as
 * tmpfs answers.  The rules the flags impose are checked where each
 * change reaches the daemon; here also the setattr and fallocate rules.
 *
 * Not for: GMEMFS_IOC_INFO (file.c), which dispatches here.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/falloc.h>

#include "mem/backing.h"
#include "fuse/fsops.h"
#include "meta/iflags.h"
#include "core/log.h"
#include "meta/namespace.h"

uint32_t gm_inode_iflags(struct gm_inode *inode)
{
	uint32_t f;

	pthread_mutex_lock(&inode->lock);
	f = inode->iflags;
	pthread_mutex_unlock(&inode->lock);
	return f;
}

/* The VFS's notify_change rule: an immutable inode takes no change, an
 * append-only one only "touch to now" and the set-ID kill of a write. */
int gm_iflags_check_setattr(struct gm_inode *inode, int to_set)
{
	const int now = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
	uint32_t f = gm_inode_iflags(inode);

	if (!to_set || !gm_iflags_frozen(f))
		return 0;
	if (f & FS_IMMUTABLE_FL)
		return -EPERM;
	if (to_set & ~now & ~(FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_ATIME && !(to_set & FUSE_SET_ATTR_ATIME_NOW)) ||
	    (to_set & FUSE_SET_ATTR_MTIME && !(to_set & FUSE_SET_ATTR_MTIME_NOW)))
		return -EPERM;	/* explicit times */
	return 0;
}

/* vfs_fallocate: nothing on an immutable file, only allocation on an
 * append-only one. */
int gm_iflags_check_fallocate(struct gm_inode *inode, int mode)
{
	uint32_t f = gm_inode_iflags(inode);

	if (f & FS_IMMUTABLE_FL || (f & FS_APPEND_FL && mode & ~FALLOC_FL_KEEP_SIZE))
		return -EPERM;
	return 0;
}

static const struct {
	uint32_t fl, xfl;
} gm_iflags_x[] = {
	{ FS_APPEND_FL, FS_XFLAG_APPEND }, { FS_IMMUTABLE_FL, FS_XFLAG_IMMUTABLE },
	{ FS_NODUMP_FL, FS_XFLAG_NODUMP }, { FS_NOATIME_FL, FS_XFLAG_NOATIME },
};

static uint32_t gm_iflags_to_x(uint32_t f)
{
	uint32_t x = 0;

	for (size_t i = 0; i < sizeof(gm_iflags_x) / sizeof(gm_iflags_x[0]); i++)
		x |= f & gm_iflags_x[i].fl ? gm_iflags_x[i].xfl : 0;
	return x;
}

/* FS_XFLAG_* into FS_*_FL; -EOPNOTSUPP for anything without a flag here. */
static int gm_iflags_from_x(const struct fsxattr *fx, uint32_t *f)
{
	uint32_t x = fx->fsx_xflags;

	*f = 0;
	for (size_t i = 0; i < sizeof(gm_iflags_x) / sizeof(gm_iflags_x[0]); i++) {
		*f |= x & gm_iflags_x[i].xfl ? gm_iflags_x[i].fl : 0;
		x &= ~gm_iflags_x[i].xfl;
	}
	return x || fx->fsx_extsize || fx->fsx_projid || fx->fsx_cowextsize ? -EOPNOTSUPP : 0;
}

/* A regular file's noatime goes to its backing too: reads through
 * passthrough touch the backing's atime, which the mount shows. */
static void gm_iflags_to_backing(struct gm_inode *inode, uint32_t f)
{
	if (inode->type == S_IFREG)
		gm_backing_mirror_noatime(inode, f & FS_NOATIME_FL);
}

static int gm_iflags_set(struct gm_fs *fs, struct gm_inode *inode, uint32_t f)
{
	int err;

	if (f & ~GM_IFLAGS_SUPPORTED) {
		gm_info("file %llu: chattr flags %#x refused: only append, immutable, "
			"nodump and noatime are kept", (unsigned long long)inode->ino, f);
		return -EOPNOTSUPP;
	}
	err = gm_ns_set_iflags(fs, inode, f, 0);
	if (err)
		return err;
	gm_iflags_to_backing(inode, f);
	gm_fs_attr_changed(fs, inode);	/* ctime: an ioctl's reply carries none */
	return 0;
}

void gm_ioctl_iflags(fuse_req_t req, struct gm_inode *inode, unsigned int cmd,
		     const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct fsxattr fx = { 0 };
	uint32_t f;
	int err = -EINVAL;

	switch (cmd) {
	case FS_IOC_GETFLAGS:
		if (out_bufsz < sizeof(int))
			break;
		f = gm_inode_iflags(inode);
		return (void)fuse_reply_ioctl(req, 0, &f, sizeof(int));
	case FS_IOC_FSGETXATTR:
		if (out_bufsz < sizeof(fx))
			break;
		fx.fsx_xflags = gm_iflags_to_x(gm_inode_iflags(inode));
		return (void)fuse_reply_ioctl(req, 0, &fx, sizeof(fx));
	case FS_IOC_SETFLAGS:
		if (in_bufsz < sizeof(int))
			break;
		memcpy(&f, in_buf, sizeof(int));
		err = gm_iflags_set(fs, inode, f);
		break;
	case FS_IOC_FSSETXATTR:
		if (in_bufsz < sizeof(fx))
			break;
		memcpy(&fx, in_buf, sizeof(fx));
		err = gm_iflags_from_x(&fx, &f);
		if (!err)
			err = gm_iflags_set(fs, inode, f);
		break;
	}
	if (err)
		return gm_reply_err(req, err);
	fuse_reply_ioctl(req, 0, NULL, 0);
}
