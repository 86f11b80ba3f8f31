/*
 * Namespace and metadata changes (see namespace.h): validate, journal,
 * then apply.  Runs under fs->it.tree_lock, so the checks and the change
 * see the same tree.
 */
#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "meta/acl.h"
#include "mem/backing.h"
#include "common/clock.h"
#include "meta/iflags.h"
#include "core/log.h"
#include "meta/namespace.h"

int gm_ns_check_name(const char *name)
{
	size_t len = strlen(name);

	if (len > GM_J_NAME_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return 0;
}

static int gm_ns_journal(struct gm_fs *fs, const struct gm_jrec *r)
{
	int err;

	if (!fs->journaling)
		return 0;
	err = gm_journal_append(&fs->journal, r);
	if (err)
		gm_err("journal %s: append of record type %u failed: %s",
		       fs->journal.path, r->type, strerror(-err));
	return err;
}

/* A change to inode's own attributes.  An inode without a name is not in
 * the journal: an O_TMPFILE file until its first link, which records it
 * whole (gm_ns_link_journal), and a removed one that is still open, which
 * replay has already dropped.  A record for either would name an inode
 * replay does not have.  tree_lock held. */
static int gm_ns_journal_n_of(struct gm_fs *fs, struct gm_inode *inode,
			      const struct gm_jrec *r, unsigned n)
{
	int err;

	if (inode->tmpfile || (inode->nlink == 0 && inode != fs->root) || !fs->journaling)
		return 0;
	err = gm_journal_append_n(&fs->journal, r, n);
	if (err)
		gm_err("journal %s: append of record type %u failed: %s",
		       fs->journal.path, r->type, strerror(-err));
	return err;
}

static int gm_ns_journal_of(struct gm_fs *fs, struct gm_inode *inode, const struct gm_jrec *r)
{
	return gm_ns_journal_n_of(fs, inode, r, 1);
}

/* rec, the record that creates inode, then inode's xattrs and chattr
 * flags as they are now, in one write: a file recorded whole, or not at
 * all.  inode->lock held (or the inode not yet in the table). */
static int gm_ns_journal_whole(struct gm_fs *fs, struct gm_inode *inode,
			       const struct gm_jrec *rec)
{
	struct gm_jrec *recs;
	unsigned n = 2;
	int err;

	if (!fs->journaling)
		return 0;
	for (struct gm_xattr *x = inode->xattrs; x; x = x->next)
		n++;
	recs = calloc(n, sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	recs[0] = *rec;
	n = 1;
	for (struct gm_xattr *x = inode->xattrs; x; x = x->next)
		recs[n++] = (struct gm_jrec){ .type = GM_J_XATTR_SET, .ino = inode->ino,
					      .name = x->name, .value = x->value,
					      .value_len = (uint32_t)x->len };
	if (inode->iflags)
		recs[n++] = (struct gm_jrec){ .type = GM_J_IFLAGS, .ino = inode->ino,
					      .flags = inode->iflags, .time_ns = rec->time_ns };
	err = gm_journal_append_n(&fs->journal, recs, n);
	free(recs);
	if (err)
		gm_err("journal %s: append of file %llu's creation failed: %s",
		       fs->journal.path, (unsigned long long)inode->ino, strerror(-err));
	return err;
}

/* A directory's contents changed: its mtime and ctime move (tree_lock). */
static void gm_ns_touch_dir(struct gm_inode *dir, uint64_t time_ns)
{
	pthread_mutex_lock(&dir->lock);
	dir->mtime = dir->ctime = gm_ns_to_ts(time_ns);
	pthread_mutex_unlock(&dir->lock);
}

/* An inode's own change time: rename, link and unlink change it. */
static void gm_ns_touch_inode(struct gm_inode *inode, uint64_t time_ns)
{
	pthread_mutex_lock(&inode->lock);
	inode->ctime = gm_ns_to_ts(time_ns);
	pthread_mutex_unlock(&inode->lock);
}

/* tree_lock held.  The walk ends at the root, or at a removed directory
 * (its parent is itself). */
static enum gm_pagesize __gm_ns_dir_policy(struct gm_fs *fs, struct gm_inode *dir)
{
	enum gm_pagesize ps = GM_PS_INHERIT;

	for (struct gm_inode *d = dir; ps == GM_PS_INHERIT; d = d->parent) {
		ps = d->policy;
		if (d == fs->root || d->parent == d)
			break;
	}
	return gm_policy_effective(ps, fs->opts->pagesize);
}

enum gm_pagesize gm_ns_dir_policy(struct gm_fs *fs, struct gm_inode *dir)
{
	enum gm_pagesize ps;

	pthread_mutex_lock(&fs->it.tree_lock);
	ps = __gm_ns_dir_policy(fs, dir);
	pthread_mutex_unlock(&fs->it.tree_lock);
	return ps;
}

/* Checks of a directory something is created in, but for the name. */
static int gm_ns_check_dir(struct gm_fs *fs, struct gm_inode *dir)
{
	if (dir->type != S_IFDIR)
		return -ENOTDIR;
	if (dir->is_virtual)
		return -EPERM;
	if (dir != fs->root && dir->nlink == 0)
		return -ENOENT;	/* removed directory */
	if (fs->journaling && !gm_iflags_dir_may_add(dir->iflags))
		return -EPERM;	/* chattr +i */
	return 0;
}

/* chattr: may victim leave dir?  Only live changes are checked: replay
 * redoes what was allowed when it happened. */
static int gm_ns_check_flags_remove(struct gm_fs *fs, struct gm_inode *dir,
				    struct gm_inode *victim)
{
	if (!fs->journaling)
		return 0;
	if (!gm_iflags_dir_may_remove(dir->iflags) || gm_iflags_frozen(victim->iflags))
		return -EPERM;
	return 0;
}

/* Checks shared by everything that adds a name to dir. */
static int gm_ns_check_target(struct gm_fs *fs, struct gm_inode *dir, const char *name)
{
	int err;

	err = gm_ns_check_name(name);
	if (err)
		return err;
	err = gm_ns_check_dir(fs, dir);
	if (err)
		return err;
	err = -EEXIST;
	if (gm_dentry_find_locked(&fs->it, dir->ino, name))
		return err;
	return 0;
}

/* An xattr change made ready before it is journaled (ENOMEM can then no
 * longer happen), committed after. */
struct gm_xattr_prep {
	void *copy;
	struct gm_xattr *x;	/* a new entry, when the name is new */
};
static int gm_xattr_prepare(struct gm_xattr_prep *p, bool is_new, const char *name,
			    const void *value, size_t len);
static void gm_xattr_commit(struct gm_inode *inode, struct gm_xattr *x,
			    struct gm_xattr_prep *p, size_t len);

/* Types without memory: symlinks, fifos, sockets and device nodes. */
static bool gm_ns_is_node(mode_t mode)
{
	return S_ISLNK(mode) || S_ISFIFO(mode) || S_ISSOCK(mode) || S_ISCHR(mode) ||
	       S_ISBLK(mode);
}

static int gm_ns_check_new(const struct gm_new_args *a)
{
	size_t len;

	if (!S_ISREG(a->mode) && !S_ISDIR(a->mode) && !gm_ns_is_node(a->mode))
		return -EINVAL;
	if (!gm_policy_valid(a->policy))
		return -EINVAL;	/* a replayed policy from a damaged or newer journal */
	if (!S_ISLNK(a->mode))
		return 0;
	len = a->link ? strlen(a->link) : 0;
	if (len == 0)
		return -ENOENT;
	return len > GM_NS_LINK_MAX ? -ENAMETOOLONG : 0;
}

/* A new inode's inherited ACLs, as its first xattrs.  -ENOMEM. */
static int gm_ns_alloc_acls(struct gm_inode *inode, const struct gm_new_args *a)
{
	const char *names[2] = { GM_ACL_ACCESS, GM_ACL_DEFAULT };
	const void *values[2] = { a->acl_access, a->acl_default };

	for (int i = 0; i < 2; i++) {
		struct gm_xattr_prep prep;

		if (!values[i])
			continue;
		if (gm_xattr_prepare(&prep, true, names[i], values[i], a->acl_len))
			return -ENOMEM;
		gm_xattr_commit(inode, *gm_xattr_slot(inode, names[i]), &prep, a->acl_len);
	}
	return 0;
}

#define GM_INO_BLOCK	65536

/* Before a new inode number is given out, the journal says it is taken
 * (a block at a time), so that no restart gives it out again.  tree_lock. */
static int gm_ns_ino_reserve(struct gm_fs *fs)
{
	struct gm_jrec r = { .type = GM_J_INO_MARK, .ino = fs->next_ino + GM_INO_BLOCK };
	int err;

	if (!fs->journaling || fs->next_ino < fs->ino_mark)
		return 0;
	err = gm_ns_journal(fs, &r);
	if (!err)
		fs->ino_mark = r.ino;
	return err;
}

static struct gm_inode *gm_ns_alloc(struct gm_fs *fs, const struct gm_new_args *a,
				    enum gm_pagesize dir_policy)
{
	uint64_t ino = a->ino ? a->ino : fs->next_ino;
	struct gm_inode *inode;

	inode = gm_inode_alloc(ino, a->mode, a->uid, a->gid);
	if (!inode)
		return NULL;
	if (S_ISLNK(a->mode)) {
		inode->link = strdup(a->link);
		if (!inode->link) {
			gm_inode_free(inode);
			return NULL;
		}
	}
	if (S_ISCHR(a->mode) || S_ISBLK(a->mode))
		inode->rdev = a->rdev;
	if (S_ISDIR(a->mode))
		inode->policy = a->policy;	/* own setting; INHERIT by default */
	else if (S_ISREG(a->mode))
		inode->policy = a->policy ? a->policy : dir_policy;
	/* nodes hold no memory: no policy (INHERIT) */
	if (a->time_ns)
		inode->atime = inode->mtime = inode->ctime = gm_ns_to_ts(a->time_ns);
	if (gm_ns_alloc_acls(inode, a)) {
		gm_inode_free(inode);
		return NULL;
	}
	return inode;
}

void gm_ns_create_rec(const struct gm_inode *inode, struct gm_jrec *r)
{
	r->mode = inode->type | inode->perm;
	r->uid = inode->uid;
	r->gid = inode->gid;
	if (!gm_ns_is_node(inode->type)) {
		r->type = GM_J_NEW;
		r->policy = inode->policy;
		return;
	}
	/* A node's record carries its device number or target, not a policy. */
	r->type = GM_J_NODE;
	r->rdev = inode->rdev;
	r->value = inode->link;
	r->value_len = inode->link ? strlen(inode->link) : 0;
}

static int __gm_ns_new(struct gm_fs *fs, struct gm_inode *dir,
		       const struct gm_new_args *a, struct gm_inode *inode)
{
	struct gm_jrec r = { .ino = inode->ino, .parent = dir->ino, .name = a->name,
			     .time_ns = a->time_ns };

	gm_ns_create_rec(inode, &r);
	struct gm_dentry *d;
	int err;

	err = -ENOMEM;
	d = gm_dentry_alloc(a->name);
	if (!d)
		return err;
	if (S_ISREG(a->mode)) {
		err = gm_backing_attach(fs, inode, !fs->journaling);
		if (err)
			goto err_dentry;
	}
	err = gm_ns_journal_whole(fs, inode, &r);	/* with its inherited ACLs */
	if (err)
		goto err_backing;
	if (gm_inode_hash_add(&fs->it, inode))
		abort();	/* a free ino was checked under tree_lock */
	gm_inode_ref(inode, 1);		/* the caller's */
	gm_dentry_insert_locked(&fs->it, dir, d, inode);
	if (inode->ino >= fs->next_ino)
		fs->next_ino = inode->ino + 1;
	gm_ns_touch_dir(dir, a->time_ns);
	return 0;

err_backing:
	gm_backing_evict(&fs->it, inode);
err_dentry:
	free(d);
	return err;
}

int gm_ns_new(struct gm_fs *fs, struct gm_inode *dir, const struct gm_new_args *a,
	      struct gm_inode **out)
{
	struct gm_new_args args = *a;
	struct gm_inode *inode, *dup;
	int err;

	err = gm_ns_check_new(a);
	if (err)
		return err;
	if (!args.time_ns)
		args.time_ns = gm_wall_ns();
	pthread_mutex_lock(&fs->it.tree_lock);
	err = gm_ns_check_target(fs, dir, a->name);
	if (err)
		goto out_unlock;
	err = -EEXIST;		/* a replayed ino already taken: a damaged journal */
	dup = a->ino ? gm_inode_find(&fs->it, a->ino) : NULL;
	if (dup) {
		gm_inode_put(&fs->it, dup, 1);
		goto out_unlock;
	}
	err = a->ino ? 0 : gm_ns_ino_reserve(fs);
	if (err)
		goto out_unlock;
	err = -ENOMEM;
	inode = gm_ns_alloc(fs, &args, __gm_ns_dir_policy(fs, dir));
	if (!inode)
		goto out_unlock;
	err = __gm_ns_new(fs, dir, &args, inode);
	if (err) {
		gm_inode_free(inode);
		goto out_unlock;
	}
	*out = inode;
out_unlock:
	pthread_mutex_unlock(&fs->it.tree_lock);
	return err;
}

int gm_ns_tmpfile(struct gm_fs *fs, struct gm_inode *dir, const struct gm_new_args *a,
		  struct gm_inode **out)
{
	struct gm_inode *inode;
	int err;

	err = -EINVAL;
	if (!S_ISREG(a->mode))
		return err;
	pthread_mutex_lock(&fs->it.tree_lock);
	err = gm_ns_check_dir(fs, dir);
	if (!err)
		err = gm_ns_ino_reserve(fs);
	if (err)
		goto out_unlock;
	err = -ENOMEM;
	inode = gm_ns_alloc(fs, a, __gm_ns_dir_policy(fs, dir));
	if (!inode)
		goto out_unlock;
	err = gm_backing_attach(fs, inode, false);
	if (err) {
		gm_inode_free(inode);
		goto out_unlock;
	}
	if (gm_inode_hash_add(&fs->it, inode))
		abort();	/* next_ino is free: a locking bug */
	inode->tmpfile = true;
	gm_inode_ref(inode, 1);		/* the caller's */
	fs->next_ino = inode->ino + 1;
	*out = inode;
out_unlock:
	pthread_mutex_unlock(&fs->it.tree_lock);
	return err;
}

/* The first link of an O_TMPFILE file is its creation, for the journal;
 * else just the LINK record r.  tree_lock held. */
static int gm_ns_link_journal(struct gm_fs *fs, struct gm_inode *inode, struct gm_jrec *r)
{
	int err;

	if (!inode->tmpfile)
		return gm_ns_journal(fs, r);
	pthread_mutex_lock(&inode->lock);
	gm_ns_create_rec(inode, r);
	err = gm_ns_journal_whole(fs, inode, r);
	pthread_mutex_unlock(&inode->lock);
	return err;
}

int gm_ns_link(struct gm_fs *fs, struct gm_inode *inode, struct gm_inode *dir,
	       const char *name, uint64_t time_ns)
{
	struct gm_jrec r = { .type = GM_J_LINK, .ino = inode->ino, .parent = dir->ino,
			     .name = name, .time_ns = time_ns ? time_ns : gm_wall_ns() };
	struct gm_dentry *d = gm_dentry_alloc(name);
	int err;

	if (!d)
		return -ENOMEM;
	pthread_mutex_lock(&fs->it.tree_lock);
	err = -EPERM;
	if (inode->type == S_IFDIR || inode->is_virtual)
		goto out_unlock;
	err = -ENOENT;
	if (inode->nlink == 0 && !inode->tmpfile)
		goto out_unlock;	/* no linking an unlinked-but-open file back */
	err = -EPERM;
	if (fs->journaling && gm_iflags_frozen(inode->iflags))
		goto out_unlock;
	err = gm_ns_check_target(fs, dir, name);
	if (err)
		goto out_unlock;
	err = gm_ns_link_journal(fs, inode, &r);
	if (err)
		goto out_unlock;
	inode->tmpfile = false;
	gm_dentry_insert_locked(&fs->it, dir, d, inode);
	d = NULL;
	gm_ns_touch_dir(dir, r.time_ns);
	gm_ns_touch_inode(inode, r.time_ns);
out_unlock:
	pthread_mutex_unlock(&fs->it.tree_lock);
	free(d);
	return err;
}

/* May d's inode leave dir through unlink/rmdir? */
static int gm_ns_check_remove(struct gm_dentry *d, bool rmdir)
{
	struct gm_inode *inode = d->inode;

	if (inode->is_virtual)
		return -EPERM;
	if (rmdir && inode->type != S_IFDIR)
		return -ENOTDIR;
	if (!rmdir && inode->type == S_IFDIR)
		return -EISDIR;
	if (rmdir && inode->nchildren)
		return -ENOTEMPTY;
	return 0;
}

int gm_ns_unlink(struct gm_fs *fs, struct gm_inode *dir, const char *name,
		 bool rmdir, uint64_t time_ns)
{
	struct gm_jrec r = { .type = GM_J_UNLINK, .parent = dir->ino, .name = name,
			     .time_ns = time_ns ? time_ns : gm_wall_ns() };
	struct gm_dentry *d;
	int err;

	pthread_mutex_lock(&fs->it.tree_lock);
	err = -ENOENT;
	d = gm_dentry_find_locked(&fs->it, dir->ino, name);
	if (!d)
		goto out_unlock;
	/* EPERM of chattr before ENOTEMPTY, as the VFS's may_delete() orders them. */
	err = gm_ns_check_flags_remove(fs, dir, d->inode);
	if (!err)
		err = gm_ns_check_remove(d, rmdir);
	if (err)
		goto out_unlock;
	err = gm_ns_journal(fs, &r);
	if (err)
		goto out_unlock;
	gm_ns_touch_inode(d->inode, r.time_ns);
	gm_dentry_del_locked(&fs->it, dir, d);
	gm_ns_touch_dir(dir, r.time_ns);
out_unlock:
	pthread_mutex_unlock(&fs->it.tree_lock);
	return err;
}

/* Is dir the same as, or below, ancestor?  tree_lock held. */
static bool gm_ns_is_within(struct gm_fs *fs, struct gm_inode *dir,
			    struct gm_inode *ancestor)
{
	for (;;) {
		if (dir == ancestor)
			return true;
		if (dir == fs->root)
			return false;
		dir = dir->parent;
	}
}

/* May src's inode replace dst's (plain rename over an existing name)? */
static int gm_ns_check_replace(struct gm_dentry *src, struct gm_dentry *dst)
{
	struct gm_inode *s = src->inode, *t = dst->inode;

	if (t->is_virtual)
		return -EPERM;
	if (s->type == S_IFDIR && t->type != S_IFDIR)
		return -ENOTDIR;
	if (s->type != S_IFDIR && t->type == S_IFDIR)
		return -EISDIR;
	if (t->type == S_IFDIR && t->nchildren)
		return -ENOTEMPTY;
	return 0;
}

struct gm_rename {
	struct gm_inode *odir, *ndir;
	struct gm_dentry *src, *dst;
	struct gm_dentry *to_new, *to_old;	/* allocated before journaling */
	const char *oname, *nname;
	unsigned flags;
	uid_t wo_uid;				/* RENAME_WHITEOUT: the whiteout's owner */
	gid_t wo_gid;
	struct gm_inode *wo;			/* the whiteout, allocated before journaling */
};

static int gm_ns_check_rename(struct gm_fs *fs, struct gm_rename *rn)
{
	int err;

	err = -EINVAL;
	if (rn->flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) ||
	    (rn->flags & RENAME_EXCHANGE && rn->flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
		return err;
	err = gm_ns_check_name(rn->nname);
	if (err)
		return err;
	err = -ENOENT;
	rn->src = gm_dentry_find_locked(&fs->it, rn->odir->ino, rn->oname);
	if (!rn->src)
		return err;
	err = -EPERM;
	if (rn->src->inode->is_virtual || rn->ndir->is_virtual || rn->ndir->type != S_IFDIR)
		return err;
	if (fs->journaling && !gm_iflags_dir_may_add(rn->ndir->iflags))
		return err;
	err = gm_ns_check_flags_remove(fs, rn->odir, rn->src->inode);
	if (err)
		return err;
	err = -EINVAL;	/* a directory cannot move below itself */
	if (rn->src->inode->type == S_IFDIR && gm_ns_is_within(fs, rn->ndir, rn->src->inode))
		return err;
	rn->dst = gm_dentry_find_locked(&fs->it, rn->ndir->ino, rn->nname);
	err = rn->dst ? gm_ns_check_flags_remove(fs, rn->ndir, rn->dst->inode) : 0;
	if (err)
		return err;
	if (rn->flags & RENAME_EXCHANGE) {
		if (!rn->dst)
			return -ENOENT;
		if (rn->dst->inode->is_virtual)
			return -EPERM;
		if (rn->dst->inode->type == S_IFDIR &&
		    gm_ns_is_within(fs, rn->odir, rn->dst->inode))
			return -EINVAL;
		return 0;
	}
	if (!rn->dst)
		return 0;
	if (rn->flags & RENAME_NOREPLACE)
		return -EEXIST;
	return gm_ns_check_replace(rn->src, rn->dst);
}

/* Apply a validated rename; it cannot fail.  The moved inodes are pinned
 * by extra references while their old dentries go.  Both change ctime, the
 * one replaced too: it may live on under another name. */
static void gm_ns_apply_rename(struct gm_fs *fs, struct gm_rename *rn, uint64_t time_ns)
{
	struct gm_inode *s = rn->src->inode;
	struct gm_inode *t = rn->dst ? rn->dst->inode : NULL;

	gm_inode_ref(s, 1);
	gm_ns_touch_inode(s, time_ns);
	if (t) {
		gm_inode_ref(t, 1);
		gm_ns_touch_inode(t, time_ns);
	}
	gm_dentry_del_locked(&fs->it, rn->odir, rn->src);
	if (rn->dst)
		gm_dentry_del_locked(&fs->it, rn->ndir, rn->dst);
	gm_dentry_insert_locked(&fs->it, rn->ndir, rn->to_new, s);
	rn->to_new = NULL;
	if (t && rn->flags & RENAME_EXCHANGE) {
		gm_dentry_insert_locked(&fs->it, rn->odir, rn->to_old, t);
		rn->to_old = NULL;
	}
	gm_inode_put(&fs->it, s, 1);
	if (t)
		gm_inode_put(&fs->it, t, 1);	/* a replaced file goes here */
}

/*
 * RENAME_WHITEOUT leaves a whiteout at the old name: a 0/0 character
 * device, which overlayfs reads as "deleted in this layer".  Its NODE
 * record goes out with the RENAME in one write, so a crash keeps both or
 * neither; a replayed RENAME therefore leaves no whiteout of its own.
 */
static int gm_ns_whiteout_prepare(struct gm_fs *fs, struct gm_rename *rn, struct gm_jrec *r)
{
	struct gm_new_args a = { .mode = S_IFCHR, .uid = rn->wo_uid, .gid = rn->wo_gid,
				 .time_ns = r[0].time_ns };

	int err;

	if (!(rn->flags & RENAME_WHITEOUT) || !fs->journaling)
		return 0;
	err = gm_ns_ino_reserve(fs);
	if (err)
		return err;
	rn->wo = gm_ns_alloc(fs, &a, GM_PS_INHERIT);
	if (!rn->wo)
		return -ENOMEM;
	r[1] = (struct gm_jrec){ .ino = rn->wo->ino, .parent = rn->odir->ino,
				 .name = rn->oname, .time_ns = r[0].time_ns };
	gm_ns_create_rec(rn->wo, &r[1]);
	return 0;
}

static void gm_ns_whiteout_apply(struct gm_fs *fs, struct gm_rename *rn)
{
	if (!rn->wo)
		return;
	if (gm_inode_hash_add(&fs->it, rn->wo))
		abort();	/* next_ino is free: a locking bug */
	gm_dentry_insert_locked(&fs->it, rn->odir, rn->to_old, rn->wo);
	rn->to_old = NULL;
	fs->next_ino = rn->wo->ino + 1;
	rn->wo = NULL;
}

static int __gm_ns_rename(struct gm_fs *fs, struct gm_rename *rn, uint64_t time_ns)
{
	struct gm_jrec r[2] = { { .type = GM_J_RENAME, .parent = rn->odir->ino,
				  .name = rn->oname, .parent2 = rn->ndir->ino,
				  .name2 = rn->nname, .flags = rn->flags,
				  .time_ns = time_ns ? time_ns : gm_wall_ns() } };
	int err;

	err = gm_ns_check_rename(fs, rn);
	if (err)
		return err;
	if (rn->dst && rn->dst->inode == rn->src->inode)
		return 0;	/* two names of one file: nothing to do */
	err = gm_ns_whiteout_prepare(fs, rn, r);
	if (err)
		return err;
	err = fs->journaling ? gm_journal_append_n(&fs->journal, r, rn->wo ? 2 : 1) : 0;
	if (err) {
		gm_err("journal %s: append of a rename of %s failed: %s", fs->journal.path,
		       rn->oname, strerror(-err));
		return err;
	}
	gm_ns_apply_rename(fs, rn, r[0].time_ns);
	gm_ns_whiteout_apply(fs, rn);
	gm_ns_touch_dir(rn->odir, r[0].time_ns);
	gm_ns_touch_dir(rn->ndir, r[0].time_ns);
	return 0;
}

int gm_ns_rename_as(struct gm_fs *fs, struct gm_inode *odir, const char *oname,
		    struct gm_inode *ndir, const char *nname, unsigned flags,
		    uid_t uid, gid_t gid, uint64_t time_ns)
{
	struct gm_rename rn = { .odir = odir, .ndir = ndir, .oname = oname,
				.nname = nname, .flags = flags, .wo_uid = uid, .wo_gid = gid,
				.to_new = gm_dentry_alloc(nname),
				.to_old = gm_dentry_alloc(oname) };
	int err;

	err = -ENOMEM;
	if (!rn.to_new || !rn.to_old)
		goto out_free;
	pthread_mutex_lock(&fs->it.tree_lock);
	err = __gm_ns_rename(fs, &rn, time_ns);
	pthread_mutex_unlock(&fs->it.tree_lock);
out_free:
	if (rn.wo)
		gm_inode_free(rn.wo);
	free(rn.to_new);
	free(rn.to_old);
	return err;
}

int gm_ns_rename(struct gm_fs *fs, struct gm_inode *odir, const char *oname,
		 struct gm_inode *ndir, const char *nname, unsigned flags,
		 uint64_t time_ns)
{
	return gm_ns_rename_as(fs, odir, oname, ndir, nname, flags, 0, 0, time_ns);
}

/* chmod of a file with an access ACL: the ACL's owner, mask (or owning
 * group) and other entries follow the new mode, in the same journal write
 * as the mode.  *acl the entry, *fresh its new value (NULL: no change).
 * inode->lock held.  -ENOMEM. */
static int gm_ns_chmod_acl(struct gm_inode *inode, mode_t mode, struct gm_xattr **acl,
			   void **fresh)
{
	int err;

	*acl = *gm_xattr_slot(inode, GM_ACL_ACCESS);
	*fresh = NULL;
	err = *acl ? gm_acl_dup((*acl)->value, (*acl)->len, fresh) : 0;
	if (err)
		return err == -EINVAL ? 0 : err;	/* not an ACL: nothing to rewrite */
	if (*fresh && !gm_acl_chmod(*fresh, (*acl)->len, mode)) {
		free(*fresh);
		*fresh = NULL;
	}
	return 0;
}

int gm_ns_set_attr(struct gm_fs *fs, struct gm_inode *inode, unsigned mask,
		   mode_t perm, uid_t uid, gid_t gid, uint64_t time_ns)
{
	struct gm_jrec r[2] = { { .type = GM_J_ATTR, .ino = inode->ino,
				  .time_ns = time_ns ? time_ns : gm_wall_ns() } };
	struct gm_xattr *acl = NULL;
	void *fresh = NULL;
	int err;

	pthread_mutex_lock(&fs->it.tree_lock);
	pthread_mutex_lock(&inode->lock);
	r[0].mode = mask & GM_ATTR_MODE ? (perm & 07777) : inode->perm;
	r[0].uid = mask & GM_ATTR_UID ? uid : inode->uid;
	r[0].gid = mask & GM_ATTR_GID ? gid : inode->gid;
	err = -EPERM;
	if (inode->is_virtual)
		goto out_unlock;
	err = mask & GM_ATTR_MODE ? gm_ns_chmod_acl(inode, r[0].mode, &acl, &fresh) : 0;
	if (err)
		goto out_unlock;
	if (fresh)
		r[1] = (struct gm_jrec){ .type = GM_J_XATTR_SET, .ino = inode->ino,
					 .name = acl->name, .value = fresh,
					 .value_len = (uint32_t)acl->len };
	err = gm_ns_journal_n_of(fs, inode, r, fresh ? 2 : 1);
	if (err)
		goto out_unlock;
	inode->perm = r[0].mode;
	inode->uid = r[0].uid;
	inode->gid = r[0].gid;
	inode->ctime = gm_ns_to_ts(r[0].time_ns);
	if (fresh) {
		free(acl->value);
		acl->value = fresh;
		fresh = NULL;
	}
out_unlock:
	pthread_mutex_unlock(&inode->lock);
	pthread_mutex_unlock(&fs->it.tree_lock);
	free(fresh);
	return err;
}

/* 0 if the file holds nothing, -EBUSY if it holds data, or -errno.
 * inode->lock held. */
static int gm_ns_check_file_data(struct gm_inode *inode)
{
	struct stat st;
	int err;

	err = gm_backing_stat_size(inode, &st);	/* st_size decides for a fixup's files */
	if (err)
		return err;
	return st.st_size || st.st_blocks ? -EBUSY : 0;
}

/* A file's memory stays where it is: its policy may change only while it
 * holds nothing and nobody has it open.  inode->lock held. */
static int gm_ns_check_file_empty(struct gm_fs *fs, struct gm_inode *inode)
{
	int err;

	if (!fs->journaling)
		return 0;	/* replay: it was checked when it happened */
	err = gm_ns_check_file_data(inode);
	return err ? err : inode->nopen ? -EBUSY : 0;
}

/*
 * close() returns before its FUSE_RELEASE reaches the daemon (the kernel
 * sends it in the background), so a policy change of an empty file just
 * after its last close could still find it open.  Give releases in flight
 * up to GM_NS_RELEASE_WAIT_S; a file that is really open stays EBUSY.
 * Takes inode->lock; before tree_lock, which a release does not need.
 */
static void gm_ns_wait_released(struct gm_fs *fs, struct gm_inode *inode,
				enum gm_pagesize ps)
{
	struct timespec until;
	int err = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += GM_NS_RELEASE_WAIT_S;
	pthread_mutex_lock(&inode->lock);
	if (inode->nopen && fs->journaling && inode->type == S_IFREG &&
	    ps != inode->policy && !gm_ns_check_file_data(inode))
		while (inode->nopen && err != ETIMEDOUT)
			err = pthread_cond_clockwait(&inode->released, &inode->lock,
						     CLOCK_MONOTONIC, &until);
	pthread_mutex_unlock(&inode->lock);
}

int gm_ns_set_policy(struct gm_fs *fs, struct gm_inode *inode, enum gm_pagesize ps)
{
	struct gm_jrec r = { .type = GM_J_POLICY, .ino = inode->ino, .policy = ps };
	int err;

	gm_ns_wait_released(fs, inode, ps);
	pthread_mutex_lock(&fs->it.tree_lock);
	pthread_mutex_lock(&inode->lock);
	err = -EPERM;
	if (inode->is_virtual || (fs->journaling && gm_iflags_frozen(inode->iflags)))
		goto out_unlock;
	err = -EINVAL;
	if (inode->type == S_IFREG && ps == GM_PS_INHERIT)
		goto out_unlock;	/* a file always has a concrete policy */
	if (!gm_policy_valid(ps))
		goto out_unlock;	/* replay of a damaged or newer journal */
	if (inode->type == S_IFREG && ps != inode->policy) {
		err = gm_ns_check_file_empty(fs, inode);
		if (err)
			goto out_unlock;
		/* A move that cannot happen must not reach the journal, where
		 * replay would fail on it at every start. */
		err = fs->journaling ? gm_backing_policy_check(fs, inode, ps) : 0;
		if (err)
			goto out_unlock;
	}
	err = gm_ns_journal_of(fs, inode, &r);
	if (err)
		goto out_unlock;
	/* Journaled first: a replay redoes a move that fails here, and the
	 * file is empty, so no content can be lost either way. */
	if (inode->type == S_IFREG && ps != inode->policy) {
		err = gm_backing_move(fs, inode, ps, !fs->journaling);
		if (err)
			goto out_unlock;
	}
	inode->policy = ps;
out_unlock:
	pthread_mutex_unlock(&inode->lock);
	pthread_mutex_unlock(&fs->it.tree_lock);
	return err;
}

int gm_ns_set_iflags(struct gm_fs *fs, struct gm_inode *inode, uint32_t flags,
		     uint64_t time_ns)
{
	struct gm_jrec r = { .type = GM_J_IFLAGS, .ino = inode->ino, .flags = flags,
			     .time_ns = time_ns ? time_ns : gm_wall_ns() };
	int err;

	pthread_mutex_lock(&fs->it.tree_lock);
	pthread_mutex_lock(&inode->lock);
	err = -EPERM;
	if (inode->is_virtual)
		goto out_unlock;
	err = -EOPNOTSUPP;
	if (flags & ~GM_IFLAGS_SUPPORTED)
		goto out_unlock;	/* the ioctl checked; replay of a newer journal */
	err = gm_ns_journal_of(fs, inode, &r);
	if (err)
		goto out_unlock;
	inode->iflags = flags;
	inode->ctime = gm_ns_to_ts(r.time_ns);
out_unlock:
	pthread_mutex_unlock(&inode->lock);
	pthread_mutex_unlock(&fs->it.tree_lock);
	return err;
}

struct gm_jrec gm_ns_times_rec(uint64_t ino, struct timespec atime, struct timespec mtime,
			       uint64_t time_ns)
{
	return (struct gm_jrec){ .type = GM_J_TIMES, .ino = ino,
				 .atime_ns = gm_ts_to_ns(atime),
				 .mtime_ns = gm_ts_to_ns(mtime), .time_ns = time_ns };
}

/* want, unless it says UTIME_NOW (now_ns) or UTIME_OMIT (cur). */
static struct timespec gm_ns_time_pick(struct timespec want, struct timespec cur,
				       uint64_t now_ns)
{
	if (want.tv_nsec == UTIME_NOW)
		return gm_ns_to_ts(now_ns);
	return want.tv_nsec == UTIME_OMIT ? cur : want;
}

int gm_ns_set_times(struct gm_fs *fs, struct gm_inode *inode, struct timespec atime,
		    struct timespec mtime, uint64_t time_ns)
{
	struct gm_jrec r;
	int err;

	time_ns = time_ns ? time_ns : gm_wall_ns();
	pthread_mutex_lock(&fs->it.tree_lock);
	pthread_mutex_lock(&inode->lock);
	err = -EPERM;
	if (inode->is_virtual || inode->type == S_IFREG)
		goto out_unlock;	/* a regular file's are its backing's */
	atime = gm_ns_time_pick(atime, inode->atime, time_ns);
	mtime = gm_ns_time_pick(mtime, inode->mtime, time_ns);
	r = gm_ns_times_rec(inode->ino, atime, mtime, time_ns);
	err = gm_ns_journal_of(fs, inode, &r);
	if (err)
		goto out_unlock;
	inode->atime = atime;
	inode->mtime = mtime;
	inode->ctime = gm_ns_to_ts(r.time_ns);
out_unlock:
	pthread_mutex_unlock(&inode->lock);
	pthread_mutex_unlock(&fs->it.tree_lock);
	return err;
}

/* Give back what gm_xattr_prepare took, when the set does not happen. */
static void gm_xattr_unprepare(struct gm_xattr_prep *p)
{
	free(p->copy);
	if (p->x)
		free(p->x->name);
	free(p->x);
}

/* The memory a set will need, taken before journaling. */
static int gm_xattr_prepare(struct gm_xattr_prep *p, bool is_new, const char *name,
			    const void *value, size_t len)
{
	p->copy = malloc(len ? len : 1);
	p->x = is_new ? calloc(1, sizeof(*p->x)) : NULL;
	if (p->x)
		p->x->name = strdup(name);
	if (!p->copy || (is_new && (!p->x || !p->x->name))) {
		gm_xattr_unprepare(p);
		return -ENOMEM;
	}
	memcpy(p->copy, value, len);
	return 0;
}

/* x is the entry for the name, or NULL when prepare made a new one. */
static void gm_xattr_commit(struct gm_inode *inode, struct gm_xattr *x,
			    struct gm_xattr_prep *p, size_t len)
{
	if (p->x) {
		x = p->x;
		gm_xattr_link(inode, x);
	}
	free(x->value);
	x->value = p->copy;
	x->len = len;
}

/*
 * Journal an xattr change, which is a change of the inode: its ctime moves.
 * A directory's or node's goes to the journal in the same write (TIMES); a
 * regular file's stat shows the later of its own and its backing's, so the
 * backing's is moved (a chmod to its own mode), and it stays with the
 * store.  inode->lock held.
 */
static int gm_ns_journal_xattr(struct gm_fs *fs, struct gm_inode *inode,
			       const struct gm_jrec *x)
{
	struct gm_jrec r[2] = { *x, gm_ns_times_rec(inode->ino, inode->atime, inode->mtime,
						    gm_wall_ns()) };
	bool reg = inode->type == S_IFREG;
	int err;

	err = gm_ns_journal_n_of(fs, inode, r, reg ? 1 : 2);
	if (err || !fs->journaling)
		return err;
	inode->ctime = gm_ns_to_ts(r[1].time_ns);
	if (reg)
		gm_backing_touch_ctime(inode);
	return 0;
}

/* Lock for an xattr change of inode (tree_lock, then inode->lock) and find
 * name's slot; -EPERM on a frozen inode (still locked: gm_ns_xattr_end). */
static int gm_ns_xattr_begin(struct gm_fs *fs, struct gm_inode *inode, const char *name,
			     struct gm_xattr ***slot)
{
	pthread_mutex_lock(&fs->it.tree_lock);
	pthread_mutex_lock(&inode->lock);
	*slot = gm_xattr_slot(inode, name);
	return fs->journaling && gm_iflags_frozen(inode->iflags) ? -EPERM : 0;
}

static int gm_ns_xattr_end(struct gm_fs *fs, struct gm_inode *inode, int err)
{
	pthread_mutex_unlock(&inode->lock);
	pthread_mutex_unlock(&fs->it.tree_lock);
	return err;
}

int gm_ns_xattr_set(struct gm_fs *fs, struct gm_inode *inode, const char *name,
		    const void *value, size_t len, int flags)
{
	struct gm_jrec r = { .type = GM_J_XATTR_SET, .ino = inode->ino, .name = name,
			     .value = value, .value_len = len };
	struct gm_xattr_prep prep;
	struct gm_xattr **slot;
	int err;

	err = gm_ns_xattr_begin(fs, inode, name, &slot);
	if (err)
		goto out_unlock;
	err = -EEXIST;
	if (*slot && flags & XATTR_CREATE)
		goto out_unlock;
	err = -ENODATA;
	if (!*slot && flags & XATTR_REPLACE)
		goto out_unlock;
	err = gm_xattr_prepare(&prep, !*slot, name, value, len);
	if (err)
		goto out_unlock;
	err = gm_ns_journal_xattr(fs, inode, &r);
	if (err) {
		gm_xattr_unprepare(&prep);
		goto out_unlock;
	}
	gm_xattr_commit(inode, *slot, &prep, len);
out_unlock:
	return gm_ns_xattr_end(fs, inode, err);
}

int gm_ns_xattr_del(struct gm_fs *fs, struct gm_inode *inode, const char *name)
{
	struct gm_jrec r = { .type = GM_J_XATTR_DEL, .ino = inode->ino, .name = name };
	struct gm_xattr **slot, *x;
	int err;

	err = gm_ns_xattr_begin(fs, inode, name, &slot);
	if (err)
		goto out_unlock;
	err = -ENODATA;
	if (!*slot)
		goto out_unlock;
	err = gm_ns_journal_xattr(fs, inode, &r);
	if (err)
		goto out_unlock;
	x = *slot;
	gm_xattr_unlink(inode, x);
	gm_xattr_free(x);
out_unlock:
	return gm_ns_xattr_end(fs, inode, err);
}
