/*
 * FUSE operations on names: lookup and forget, creating and removing
 * directories and names, rename, hard links, and reading directories.
 * The tree itself changes only through meta/namespace.c.
 */
#include <errno.h>
#include <stdio.h>	/* RENAME_* */
#include <stdlib.h>
#include <string.h>

#include "mem/backing.h"
#include "fuse/fsops.h"
#include "core/log.h"
#include "meta/namespace.h"
#include "meta/recover.h"

/* LOOKUP of "." or "..": the kernel opening a file handle (export
 * support) asks for the inode itself, or for a directory's parent. */
static void gm_lookup_dot(fuse_req_t req, struct gm_fs *fs, struct gm_inode *dir,
			  bool dotdot)
{
	struct gm_inode *inode = dir;

	if (dotdot) {
		if (dir->type != S_IFDIR) {
			gm_fs_put(fs, dir);
			return gm_reply_err(req, -ENOTDIR);
		}
		pthread_mutex_lock(&fs->it.tree_lock);
		inode = dir->parent;
		gm_inode_ref(inode, 1);
		pthread_mutex_unlock(&fs->it.tree_lock);
		gm_fs_put(fs, dir);
	}
	gm_reply_entry(req, fs, inode);	/* the reference goes to the kernel */
}

void gm_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *dir = gm_fs_inode(fs, parent);
	struct gm_inode *inode;
	int err;

	gm_count(fs, GM_OP_LOOKUP);
	if (!dir)
		return gm_reply_err(req, -ESTALE);	/* a file handle's inode is gone */
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return gm_lookup_dot(req, fs, dir, name[1] == '.');
	err = gm_ns_check_name(name);
	if (err == -EINVAL)
		err = -ENOENT;
	inode = err ? NULL : gm_dentry_lookup(&fs->it, dir->ino, name);
	gm_fs_put(fs, dir);
	if (!inode)
		return gm_reply_err(req, err ? err : -ENOENT);
	gm_reply_entry(req, fs, inode);
}

void gm_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct gm_fs *fs = gm_req_fs(req);

	gm_count(fs, GM_OP_FORGET);
	if (ino != FUSE_ROOT_ID)
		gm_inode_put(&fs->it, gm_fs_inode_held(fs, ino), nlookup);
	fuse_reply_none(req);
}

void gm_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct gm_fs *fs = gm_req_fs(req);

	gm_count(fs, GM_OP_FORGET);
	for (size_t i = 0; i < count; i++) {
		if (forgets[i].ino != FUSE_ROOT_ID)
			gm_inode_put(&fs->it, gm_fs_inode_held(fs, forgets[i].ino),
				     forgets[i].nlookup);
	}
	fuse_reply_none(req);
}

/* Create any kind of inode: a->name, a->mode and for nodes a->rdev or
 * a->link are the caller's; the owner, umask and setgid directories are
 * applied here.  Logs refusals that a user may puzzle over. */
void gm_fsops_owner(fuse_req_t req, struct gm_inode *dir, struct gm_new_args *a,
		    struct gm_acl_inh *inh)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	a->uid = ctx->uid;
	a->gid = ctx->gid;
	if (S_ISLNK(a->mode))
		memset(inh, 0, sizeof(*inh));
	else if (!gm_acl_inherit_prepare(dir, a, inh))
		a->mode &= ~(mode_t)(ctx->umask & 0777);
	/* setgid directories hand their group down, as on any local fs */
	pthread_mutex_lock(&dir->lock);
	if (dir->perm & S_ISGID) {
		a->gid = dir->gid;
		if (S_ISDIR(a->mode))
			a->mode |= S_ISGID;
	}
	pthread_mutex_unlock(&dir->lock);
}

int gm_fsops_new(fuse_req_t req, fuse_ino_t parent, struct gm_new_args *a,
		 struct gm_inode **out)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *dir = gm_fs_inode(fs, parent);
	struct gm_acl_inh inh;
	int err;

	gm_fsops_owner(req, dir, a, &inh);
	err = gm_ns_new(fs, dir, a, out);
	gm_acl_inherit_done(&inh);
	if (!err && S_ISREG(a->mode))
		gm_backing_make_room(fs, *out);
	if (err == -EINVAL)
		gm_info("%s: refused: no such file type (mode %#o)", a->name,
			(unsigned)(a->mode & S_IFMT));
	else if (err == -ENAMETOOLONG)
		gm_info("%s: refused: a name longer than %d or a symlink target longer "
			"than %d bytes", a->name, GM_J_NAME_MAX, GM_NS_LINK_MAX);
	gm_fs_put(fs, dir);
	return err;
}

static void gm_reply_new(fuse_req_t req, fuse_ino_t parent, struct gm_new_args *a)
{
	struct gm_inode *inode;
	int err = gm_fsops_new(req, parent, a, &inode);

	if (err)
		return gm_reply_err(req, err);
	gm_reply_entry(req, gm_req_fs(req), inode);
}

void gm_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct gm_new_args a = { .name = name, .mode = S_IFDIR | (mode & 07777) };

	gm_count(gm_req_fs(req), GM_OP_MKDIR);
	gm_reply_new(req, parent, &a);
}

/* Fifos, sockets and device nodes, and regular files made by mknod(2);
 * the mount's nodev, applied by the kernel, governs whether a device node
 * opens. */
void gm_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 dev_t rdev)
{
	struct gm_new_args a = { .name = name, .mode = mode, .rdev = rdev };

	gm_count(gm_req_fs(req), GM_OP_MKNOD);
	gm_reply_new(req, parent, &a);
}

void gm_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct gm_new_args a = { .name = name, .mode = S_IFLNK | 0777, .link = link };

	gm_count(gm_req_fs(req), GM_OP_SYMLINK);
	gm_reply_new(req, parent, &a);
}

void gm_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);

	gm_count(fs, GM_OP_READLINK);
	if (inode->type != S_IFLNK)
		gm_reply_err(req, -EINVAL);
	else
		fuse_reply_readlink(req, inode->link);	/* immutable: no lock */
	gm_fs_put(fs, inode);
}

static void gm_reply_remove(fuse_req_t req, fuse_ino_t parent, const char *name, bool rmdir)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *dir = gm_fs_inode(fs, parent);
	int err = gm_ns_unlink(fs, dir, name, rmdir, 0);

	gm_fs_put(fs, dir);
	gm_reply_err(req, err);
	if (!err)
		gm_fs_maybe_compact(fs);	/* after the reply: not on its latency */
}

void gm_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	gm_count(gm_req_fs(req), GM_OP_UNLINK);
	gm_reply_remove(req, parent, name, false);
}

void gm_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	gm_count(gm_req_fs(req), GM_OP_RMDIR);
	gm_reply_remove(req, parent, name, true);
}

void gm_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *odir = gm_fs_inode(fs, parent);
	struct gm_inode *ndir = gm_fs_inode(fs, newparent);
	int err;

	gm_count(fs, GM_OP_RENAME);
	err = gm_ns_rename_as(fs, odir, name, ndir, newname, flags, fuse_req_ctx(req)->uid,
			      fuse_req_ctx(req)->gid, 0);
	if (err == -EINVAL && flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		gm_info("rename %s: unsupported flags %#x", name, flags);
	gm_fs_put(fs, odir);
	gm_fs_put(fs, ndir);
	gm_reply_err(req, err);
	if (!err)
		gm_fs_maybe_compact(fs);
}

void gm_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	struct gm_inode *dir = gm_fs_inode(fs, newparent);
	int err;

	gm_count(fs, GM_OP_LINK);
	err = gm_ns_link(fs, inode, dir, newname, 0);
	gm_fs_put(fs, dir);
	if (err) {
		gm_fs_put(fs, inode);
		return gm_reply_err(req, err);
	}
	gm_reply_entry(req, fs, inode);		/* our reference becomes the kernel's */
}

/* An open directory: fi->fh.  The cursor holds the handle's reference on
 * the directory. */
struct gm_dir_handle {
	struct gm_dir_cursor cur;	/* tree_lock */
};

static void gm_dir_handle_release(struct gm_fs *fs, struct gm_dir_handle *h)
{
	struct gm_inode *dir = h->cur.dir;

	pthread_mutex_lock(&fs->it.tree_lock);
	gm_dir_cursor_close(&h->cur);
	pthread_mutex_unlock(&fs->it.tree_lock);
	free(h);
	gm_fs_put(fs, dir);	/* after the lock: this may be the last reference */
}

void gm_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *dir = gm_fs_inode(fs, ino);
	struct gm_dir_handle *h;

	gm_count(fs, GM_OP_OPENDIR);
	if (dir->type != S_IFDIR) {
		gm_fs_put(fs, dir);
		return gm_reply_err(req, -ENOTDIR);
	}
	h = malloc(sizeof(*h));
	if (!h) {
		gm_fs_put(fs, dir);
		return gm_reply_err(req, -ENOMEM);
	}
	pthread_mutex_lock(&fs->it.tree_lock);
	gm_dir_cursor_open(&h->cur, dir);	/* takes over our reference */
	pthread_mutex_unlock(&fs->it.tree_lock);
	fi->fh = (uintptr_t)h;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		gm_dir_handle_release(fs, h);	/* the opener was interrupted */
}

void gm_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);

	(void)ino;
	gm_count(fs, GM_OP_RELEASEDIR);
	gm_dir_handle_release(fs, (struct gm_dir_handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* One readdir(plus) reply being filled. */
struct gm_dirbuf {
	fuse_req_t req;
	struct gm_fs *fs;
	bool plus;
	char *buf;
	size_t size, used;
};

/* Add one entry; false when the buffer is full (entry not added). */
static bool gm_dirbuf_add(struct gm_dirbuf *db, const char *name, struct gm_inode *inode,
			  off_t next, bool counted)
{
	char *p = db->buf + db->used;
	size_t room = db->size - db->used, len;

	if (db->plus) {
		struct fuse_entry_param e;

		gm_fill_entry(db->fs, inode, &e);
		if (!counted)
			e.ino = 0;	/* "." and "..": the kernel takes no reference */
		len = fuse_add_direntry_plus(db->req, p, room, name, &e, next);
	} else {
		struct stat st = { .st_ino = inode->ino, .st_mode = inode->type };

		len = fuse_add_direntry(db->req, p, room, name, &st, next);
	}
	if (len > room)
		return false;
	if (db->plus && counted)
		gm_inode_ref(inode, 1);	/* handed to the kernel with the entry */
	db->used += len;
	return true;
}

/* Offsets: 1 and 2 follow "." and "..", an entry's cookie follows it.  The
 * cursor finds where off resumes without walking the list (inode.h). */
static void gm_dirbuf_fill(struct gm_dirbuf *db, struct gm_dir_cursor *c, off_t off)
{
	struct gm_inode *dir = c->dir;
	struct gm_dentry *d;

	if (off < 1 && !gm_dirbuf_add(db, ".", dir, 1, false))
		return;
	if (off < 2 && !gm_dirbuf_add(db, "..", dir->parent, 2, false))
		return;
	for (d = gm_dir_cursor_seek(c, off < 0 ? 0 : (uint64_t)off); d;
	     d = gm_dir_cursor_next(c, d)) {
		if (d->inode == db->fs->views_dir && !db->fs->opts->views_visible)
			continue;	/* .gmemfs, like ZFS's .zfs: by name only */
		if (!gm_dirbuf_add(db, d->name, d->inode, d->cookie, true))
			return;
	}
}

static void gm_readdir_common(fuse_req_t req, size_t size, off_t off,
			      struct fuse_file_info *fi, bool plus)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_dir_handle *h = (struct gm_dir_handle *)(uintptr_t)fi->fh;
	struct gm_dirbuf db = { .req = req, .fs = fs, .plus = plus, .size = size };

	gm_count(fs, GM_OP_READDIR);
	db.buf = malloc(size ? size : 1);
	if (!db.buf)
		return gm_reply_err(req, -ENOMEM);
	pthread_mutex_lock(&fs->it.tree_lock);
	gm_dirbuf_fill(&db, &h->cur, off);
	pthread_mutex_unlock(&fs->it.tree_lock);
	fuse_reply_buf(req, db.buf, db.used);
	free(db.buf);
}

void gm_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	(void)ino;
	gm_readdir_common(req, size, off, fi, false);
}

void gm_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	gm_readdir_common(req, size, off, fi, true);
}
