/*
 * FUSE operations on attributes: getattr, setattr (mode, owner, times and
 * size), statfs and access.  Sizes are checked against the pool here;
 * everything else about a change goes through meta/namespace.c or the backing.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mem/backing.h"
#include "fuse/fsops.h"
#include "mem/mapped.h"
#include "core/log.h"
#include "meta/namespace.h"
#include "meta/recover.h"

void gm_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	struct stat st;

	(void)fi;
	gm_count(fs, GM_OP_GETATTR);
	gm_fill_stat(inode, &st);
	fuse_reply_attr(req, &st, gm_attr_timeout(inode));
	gm_fs_put(fs, inode);
}

/* Shrinking a file under a running VM would pull its memory away: refuse
 * while any process maps it, through the mount or a backing fd, unless the
 * mount was started with --shrink-mapped=allow.  The scan of /proc runs
 * without the inode lock, which the rebalancer needs. */
static int gm_check_shrink(struct gm_fs *fs, struct gm_inode *inode, off_t size)
{
	struct gm_devino ids[2];
	struct stat st;
	pid_t pid = 0;
	int err;

	if (fs->opts->shrink_mapped)
		return 0;
	pthread_mutex_lock(&inode->lock);
	err = gm_backing_stat(inode, &st);
	pthread_mutex_unlock(&inode->lock);
	if (err || size >= st.st_size)
		return err;
	ids[0] = (struct gm_devino){ fs->fuse_dev, inode->ino };
	ids[1] = (struct gm_devino){ st.st_dev, st.st_ino };
	err = gm_object_mapped(ids, 2, &pid);
	if (err < 0)
		return err;
	if (err > 0) {
		gm_warn("file %llu: truncate to %lld refused: process %d maps it "
			"(--shrink-mapped=allow permits it)",
			(unsigned long long)inode->ino, (long long)size, (int)pid);
		return -EBUSY;
	}
	return 0;
}

int gm_file_set_size(struct gm_fs *fs, struct gm_inode *inode, off_t size)
{
	int err;

	err = -EISDIR;
	if (inode->type == S_IFDIR)
		return err;
	err = -EINVAL;
	if (inode->type != S_IFREG)
		return err;
	err = -EPERM;
	if (inode->is_virtual)
		return err;
	err = gm_check_shrink(fs, inode, size);
	if (err)
		return err;
	gm_file_backing_settle(fs, inode);	/* an empty file may move */
	err = gm_backing_set_size(fs, inode, (uint64_t)size);
	if (!err && size == 0)
		gm_file_backing_settle(fs, inode);
	return err;
}

static struct timespec gm_attr_time(const struct stat *attr, int to_set, bool atime)
{
	int now = atime ? FUSE_SET_ATTR_ATIME_NOW : FUSE_SET_ATTR_MTIME_NOW;
	int set = atime ? FUSE_SET_ATTR_ATIME : FUSE_SET_ATTR_MTIME;
	struct timespec ts = { .tv_nsec = UTIME_OMIT };

	if (to_set & now)
		ts.tv_nsec = UTIME_NOW;
	else if (to_set & set)
		ts = atime ? attr->st_atim : attr->st_mtim;
	return ts;
}

/* A regular file's times are its backing's; the others' are journaled. */
static int gm_set_times(struct gm_fs *fs, struct gm_inode *inode, const struct stat *attr,
			int to_set)
{
	struct timespec ts[2] = { gm_attr_time(attr, to_set, true),
				  gm_attr_time(attr, to_set, false) };
	int err = 0;

	if (inode->type == S_IFREG && !inode->is_virtual) {
		pthread_mutex_lock(&inode->lock);
		err = gm_backing_set_times(inode, ts);
		pthread_mutex_unlock(&inode->lock);
		return err;
	}
	return gm_ns_set_times(fs, inode, ts[0], ts[1], 0);
}

/*
 * With HANDLE_KILLPRIV_V2 the kernel leaves clearing set-user-ID and
 * set-group-ID to us, after it has checked CAP_FSETID itself.  It asks in
 * two ways: FUSE_SET_ATTR_KILL_SUID (the kernel's FATTR_KILL_SUIDGID, for
 * both bits) beside a truncate or chown, and a SETATTR with nothing to set,
 * which is what file_remove_privs() becomes for a passthrough write.
 */
static bool gm_setattr_kills_privs(const struct gm_inode *inode, int to_set)
{
	if (inode->type == S_IFDIR || to_set & FUSE_SET_ATTR_MODE)
		return false;
	if (to_set & (FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID))
		return true;	/* any non-directory, as chown(2) does on Linux */
	return to_set == 0 && inode->type == S_IFREG;
}

/* Fold a kill into the request as a mode change, if it changes anything.
 * By the VFS's rule, set-group-ID without group-execute stays for a
 * member of the file's group. */
static int gm_setattr_add_kill(fuse_req_t req, struct gm_inode *inode,
			       struct stat *attr, int to_set)
{
	mode_t perm, mode;
	gid_t gid;

	if (!gm_setattr_kills_privs(inode, to_set))
		return to_set;
	pthread_mutex_lock(&inode->lock);
	perm = inode->perm;
	gid = inode->gid;
	pthread_mutex_unlock(&inode->lock);
	mode = perm & ~S_ISUID;
	if (mode & S_ISGID && (mode & S_IXGRP || !gm_req_in_group(req, gid)))
		mode &= ~S_ISGID;
	if (mode != perm) {
		attr->st_mode = mode;
		to_set |= FUSE_SET_ATTR_MODE;
	}
	return to_set;
}

/* The size goes first: it is the change that can be refused (pool, a
 * mapping), and a refused setattr must change nothing. */
static int gm_setattr_apply(fuse_req_t req, struct gm_inode *inode, struct stat *attr,
			    int to_set)
{
	struct gm_fs *fs = gm_req_fs(req);
	unsigned mask = 0;
	int err = 0;

	err = gm_iflags_check_setattr(inode, to_set);
	if (!err && to_set & FUSE_SET_ATTR_SIZE)
		err = gm_file_set_size(fs, inode, attr->st_size);
	if (!err)
		to_set = gm_setattr_add_kill(req, inode, attr, to_set);
	if (to_set & FUSE_SET_ATTR_MODE)
		mask |= GM_ATTR_MODE;
	if (to_set & FUSE_SET_ATTR_UID)
		mask |= GM_ATTR_UID;
	if (to_set & FUSE_SET_ATTR_GID)
		mask |= GM_ATTR_GID;
	if (!err && mask)
		err = gm_ns_set_attr(fs, inode, mask, attr->st_mode, attr->st_uid,
				     attr->st_gid, 0);
	if (!err && to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))
		err = gm_set_times(fs, inode, attr, to_set);
	return err;
}

void gm_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	struct stat st;
	int err;

	(void)fi;
	gm_count(fs, GM_OP_SETATTR);
	err = gm_setattr_apply(req, inode, attr, to_set);
	if (err) {
		gm_fs_put(fs, inode);
		return gm_reply_err(req, err);
	}
	gm_fill_stat(inode, &st);
	fuse_reply_attr(req, &st, gm_attr_timeout(inode));
	gm_fs_put(fs, inode);
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		gm_fs_maybe_compact(fs);	/* chmod/chown churn journals too */
}

/* Files: every regular file takes one inode of its provider's store, so
 * the stores' inode figures are the truth (directories take none). */
static void gm_statfs_files(struct gm_fs *fs, struct statvfs *sv)
{
	for (unsigned i = 0; i < GM_NPROV; i++) {
		struct statfs st;

		if (!fs->pool.inst[i].prov || fstatfs(fs->pool.inst[i].dirfd, &st))
			continue;
		sv->f_files += st.f_files;
		sv->f_ffree += st.f_ffree;
	}
	sv->f_favail = sv->f_ffree;
}

void gm_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_pool_usage u;
	struct statvfs sv = { .f_bsize = 4096, .f_frsize = 4096,
			      .f_namemax = GM_J_NAME_MAX };
	int err;

	(void)ino;
	gm_count(fs, GM_OP_STATFS);
	err = gm_pool_usage(&fs->pool, &u);
	if (err)
		return gm_reply_err(req, err);
	sv.f_blocks = u.budget / sv.f_frsize;
	sv.f_bfree = sv.f_bavail = u.free / sv.f_frsize;
	gm_statfs_files(fs, &sv);
	fuse_reply_statfs(req, &sv);
}

/* Only asked when mounted without default_permissions: check the mode
 * bits the way the kernel would. */
void gm_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct gm_fs *fs = gm_req_fs(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	unsigned perm;
	int err = 0;

	gm_count(fs, GM_OP_ACCESS);
	pthread_mutex_lock(&inode->lock);
	perm = inode->perm;
	if (ctx->uid == inode->uid)
		perm >>= 6;
	else if (ctx->gid == inode->gid)
		perm >>= 3;
	pthread_mutex_unlock(&inode->lock);
	if (ctx->uid != 0 && (mask & (R_OK | W_OK | X_OK) & ~perm))
		err = -EACCES;
	gm_fs_put(fs, inode);
	gm_reply_err(req, err);
}
