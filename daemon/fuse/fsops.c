/*
 * The table of FUSE operations and the helpers every handler shares
 * (attributes, entry replies).  Handlers live in fsops_<area>.c.
 * Not for: session setup (main.c).
 */
#include <errno.h>
#include <string.h>

#include "mem/backing.h"
#include "fuse/fsops.h"
#include "core/log.h"

const char *const gm_op_names[GM_OP_COUNT] = {
	[GM_OP_LOOKUP] = "lookup", [GM_OP_FORGET] = "forget",
	[GM_OP_GETATTR] = "getattr", [GM_OP_SETATTR] = "setattr",
	[GM_OP_MKNOD] = "mknod", [GM_OP_MKDIR] = "mkdir",
	[GM_OP_UNLINK] = "unlink", [GM_OP_RMDIR] = "rmdir",
	[GM_OP_RENAME] = "rename", [GM_OP_LINK] = "link",
	[GM_OP_OPEN] = "open", [GM_OP_READ] = "read", [GM_OP_WRITE] = "write",
	[GM_OP_FLUSH] = "flush", [GM_OP_RELEASE] = "release",
	[GM_OP_FSYNC] = "fsync", [GM_OP_OPENDIR] = "opendir",
	[GM_OP_READDIR] = "readdir", [GM_OP_RELEASEDIR] = "releasedir",
	[GM_OP_STATFS] = "statfs", [GM_OP_SETXATTR] = "setxattr",
	[GM_OP_GETXATTR] = "getxattr", [GM_OP_LISTXATTR] = "listxattr",
	[GM_OP_REMOVEXATTR] = "removexattr", [GM_OP_ACCESS] = "access",
	[GM_OP_CREATE] = "create", [GM_OP_FALLOCATE] = "fallocate",
	[GM_OP_IOCTL] = "ioctl", [GM_OP_SYMLINK] = "symlink",
	[GM_OP_READLINK] = "readlink", [GM_OP_TMPFILE] = "tmpfile",
	[GM_OP_COPY_FILE_RANGE] = "copy_file_range",
};


/* What tools size their I/O by.  The tmpfs-backed providers say 4 KiB, as
 * tmpfs does: their huge pages are filled by any write, and a cp or dd in
 * 2 MiB blocks would gain nothing.  hugetlb files say their page size, as
 * hugetlbfs does: it is the unit their memory comes in. */
static blksize_t gm_blksize(const struct gm_inode *inode)
{
	const struct gm_provider *p = inode->pi ? inode->pi->prov : NULL;

	return p && !p->tmpfs_huge && p->page_size > 4096 ? (blksize_t)p->page_size : 4096;
}

static void gm_fill_file_stat(struct gm_inode *inode, struct stat *st)
{
	struct stat bst;

	if (inode->is_virtual || gm_backing_stat(inode, &bst))
		return;
	st->st_size = bst.st_size;
	st->st_blocks = bst.st_blocks;
	st->st_atim = bst.st_atim;
	st->st_mtim = bst.st_mtim;
	if (bst.st_ctim.tv_sec > st->st_ctim.tv_sec ||
	    (bst.st_ctim.tv_sec == st->st_ctim.tv_sec &&
	     bst.st_ctim.tv_nsec > st->st_ctim.tv_nsec))
		st->st_ctim = bst.st_ctim;
	st->st_blksize = gm_blksize(inode);
}

void gm_fill_stat(struct gm_inode *inode, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&inode->lock);
	st->st_ino = inode->ino;
	st->st_mode = inode->type | inode->perm;
	/* A directory's count also holds its "." entry, while it has a name. */
	st->st_nlink = inode->nlink + (inode->type == S_IFDIR && inode->nlink);
	st->st_uid = inode->uid;
	st->st_gid = inode->gid;
	st->st_atim = inode->atime;
	st->st_mtim = inode->mtime;
	st->st_ctim = inode->ctime;
	st->st_blksize = 4096;
	st->st_rdev = inode->rdev;
	if (inode->type == S_IFDIR)
		st->st_size = 4096;
	else if (inode->type == S_IFLNK)
		st->st_size = (off_t)strlen(inode->link);
	else if (inode->type == S_IFREG)
		gm_fill_file_stat(inode, st);
	pthread_mutex_unlock(&inode->lock);
}

void gm_fill_entry(struct gm_fs *fs, struct gm_inode *inode, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = gm_fs_nodeid(fs, inode);
	/* The kernel made the root with generation 0 ("..": a handle's parent).
	 * Inode numbers are never reused (INO_MARK), so one generation serves
	 * every other inode, across restarts too. */
	e->generation = inode == fs->root ? 0 : 1;
	gm_fill_stat(inode, &e->attr);
	e->entry_timeout = GM_DIR_TIMEOUT;
	e->attr_timeout = gm_attr_timeout(inode);
}

void gm_reply_entry(fuse_req_t req, struct gm_fs *fs, struct gm_inode *inode)
{
	struct fuse_entry_param e;

	gm_fill_entry(fs, inode, &e);
	fuse_reply_entry(req, &e);
}

void gm_fs_attr_changed(struct gm_fs *fs, struct gm_inode *inode)
{
	int err;

	if (!fs->se)
		return;		/* replay, before the mount */
	err = fuse_lowlevel_notify_inval_inode(fs->se, gm_fs_nodeid(fs, inode), -1, 0);
	/* ENOENT: the kernel holds no such inode, so it caches nothing. */
	if (err && err != -ENOENT)
		gm_warn("file %llu: telling the kernel its attributes changed: %s",
			(unsigned long long)inode->ino, strerror(-err));
}

void gm_reply_err(fuse_req_t req, int neg_errno)
{
	fuse_reply_err(req, -neg_errno);
}

void gm_req_cred(fuse_req_t req, struct gm_cred *c, gid_t *groups)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int n = ctx->uid ? fuse_req_getgroups(req, GM_REQ_GROUPS, groups) : 0;

	*c = (struct gm_cred){ .pid = ctx->pid, .uid = ctx->uid, .gid = ctx->gid,
				   .groups = groups,
				   .ngroups = n < 0 ? 0 : n > GM_REQ_GROUPS ? GM_REQ_GROUPS : n };
}

/* Only asked where a rule needs it (a set-group-ID bit to keep or drop),
 * so the supplementary groups' lookup, a read of /proc, stays off the
 * common path. */
bool gm_req_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[GM_REQ_GROUPS];
	struct gm_cred c;

	gm_req_cred(req, &c, groups);
	return c.uid == 0 || gm_cred_in_group(&c, gid);
}

static void gm_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct gm_fs *fs = userdata;

	/* Passthrough and writeback caching exclude each other in the kernel;
	 * the data path must be passthrough. */
	fuse_unset_feature_flag(conn, FUSE_CAP_WRITEBACK_CACHE);
	/* Without this the kernel asks for security.capability before every
	 * write() to decide whether to drop privileges: a daemon round trip on
	 * the data path.  With it the kernel marks an inode S_NOSEC after the
	 * first such check and leaves suid/sgid clearing to us (setattr).  A
	 * refresh of the attributes clears S_NOSEC again, and a write()
	 * drops the cached size and blocks (fsops.h), so a stat() between two
	 * write()s costs the next write one getxattr.  A
	 * passthrough write to a set-user-ID or set-group-ID file reaches us
	 * as a SETATTR with nothing set: attr.c reads that as the kill. */
	fuse_set_feature_flag(conn, FUSE_CAP_HANDLE_KILLPRIV_V2);
	fs->passthrough = fuse_set_feature_flag(conn, FUSE_CAP_PASSTHROUGH);
	if (!fs->passthrough)
		gm_err("the kernel offers no FUSE passthrough: reads and writes will "
		       "go through the daemon and mappings will not reach the pool");
	/* ACLs as tmpfs has them: the kernel enforces, acl.c keeps.
	 * The umask is ours to apply (gm_fsops_owner): a directory's default
	 * ACL takes its place. */
	if (!fuse_set_feature_flag(conn, FUSE_CAP_POSIX_ACL))
		gm_warn("the kernel offers no FUSE POSIX ACLs: setfacl will fail");
	if (!fuse_set_feature_flag(conn, FUSE_CAP_DONT_MASK))
		gm_warn("the kernel applies the umask itself: default ACLs cannot replace it");
	/* File handles: nodeids are inode numbers, found or not (ESTALE). */
	fuse_set_feature_flag(conn, FUSE_CAP_EXPORT_SUPPORT);
	/* The kernel keeps readlink's answer in the symlink's page cache and
	 * never asks again.  No invalidation is ever owed: a target is fixed
	 * at symlink() (gm_inode.link is immutable), and a new symlink under
	 * the same name is a new inode, as inode numbers are never reused. */
	if (!fuse_set_feature_flag(conn, FUSE_CAP_CACHE_SYMLINKS))
		gm_warn("the kernel cannot cache symlinks: every readlink is a round trip");
	conn->time_gran = 1;
}

const struct fuse_lowlevel_ops gm_fsops = {
	.init = gm_op_init,
	.lookup = gm_op_lookup,
	.forget = gm_op_forget,
	.forget_multi = gm_op_forget_multi,
	.getattr = gm_op_getattr,
	.setattr = gm_op_setattr,
	.mknod = gm_op_mknod,
	.mkdir = gm_op_mkdir,
	.symlink = gm_op_symlink,
	.readlink = gm_op_readlink,
	.unlink = gm_op_unlink,
	.rmdir = gm_op_rmdir,
	.rename = gm_op_rename,
	.link = gm_op_link,
	.open = gm_op_open,
	.create = gm_op_create,
	.tmpfile = gm_op_tmpfile,
	.read = gm_op_read,
	.write = gm_op_write,
	.flush = gm_op_flush,
	.release = gm_op_release,
	.fsync = gm_op_fsync,
	.opendir = gm_op_opendir,
	.readdir = gm_op_readdir,
	.readdirplus = gm_op_readdirplus,
	.releasedir = gm_op_releasedir,
	.statfs = gm_op_statfs,
	.access = gm_op_access,
	.setxattr = gm_op_setxattr,
	.getxattr = gm_op_getxattr,
	.listxattr = gm_op_listxattr,
	.removexattr = gm_op_removexattr,
	.fallocate = gm_op_fallocate,
	.copy_file_range = gm_op_copy_file_range,
	.ioctl = gm_op_ioctl,
};
