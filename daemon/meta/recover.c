/*
 * Start and stop of a mount's state (see recover.h).  Replay goes through
 * namespace.c with journaling off, so a replayed tree is built by exactly
 * the code that built it the first time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mem/backing.h"
#include "common/clock.h"
#include "core/log.h"
#include "meta/namespace.h"
#include "meta/private.h"
#include "meta/recover.h"
#include "prov/shim.h"

static struct gm_inode *gm_fs_fixed(struct gm_fs *fs, uint64_t ino, mode_t mode,
				    bool is_virtual)
{
	struct gm_inode *inode = gm_inode_alloc(ino, mode, 0, 0);

	if (!inode)
		return NULL;
	inode->is_virtual = is_virtual;
	gm_inode_ref(inode, 1);		/* pinned for the daemon's lifetime */
	if (gm_inode_hash_add(&fs->it, inode)) {
		free(inode);
		return NULL;
	}
	return inode;
}

static int gm_fs_make_fixed(struct gm_fs *fs)
{
	int err = -ENOMEM;

	fs->root = gm_fs_fixed(fs, GM_INO_ROOT, S_IFDIR | 0755, false);
	if (!fs->root)
		return err;
	fs->root->nlink = 1;	/* as if named: "." is added when reported */
	fs->views_dir = gm_fs_fixed(fs, GM_INO_VIEWS, S_IFDIR | 0555, true);
	fs->stats_file = gm_fs_fixed(fs, GM_INO_STATS, S_IFREG | 0444, true);
	fs->metrics_file = gm_fs_fixed(fs, GM_INO_METRICS, S_IFREG | 0444, true);
	if (!fs->views_dir || !fs->stats_file || !fs->metrics_file)
		return err;
	pthread_mutex_lock(&fs->it.tree_lock);
	err = gm_dentry_add_locked(&fs->it, fs->root, GMEMFS_VIEWS_DIR, fs->views_dir);
	if (!err)
		err = gm_dentry_add_locked(&fs->it, fs->views_dir, GMEMFS_STATS_FILE,
					   fs->stats_file);
	if (!err)
		err = gm_dentry_add_locked(&fs->it, fs->views_dir, GMEMFS_METRICS_FILE,
					   fs->metrics_file);
	pthread_mutex_unlock(&fs->it.tree_lock);
	return err;
}

/* The inode a record names, or NULL (logged: the record is skipped). */
static struct gm_inode *gm_replay_inode(struct gm_fs *fs, uint64_t ino, const char *what)
{
	struct gm_inode *inode = gm_inode_find(&fs->it, ino);

	if (!inode)
		gm_warn("journal: %s names unknown inode %llu; record skipped", what,
			(unsigned long long)ino);
	return inode;
}

static int gm_replay_new(struct gm_fs *fs, const struct gm_jrec *r)
{
	struct gm_inode *dir = gm_replay_inode(fs, r->parent, "create");
	struct gm_new_args a = { .name = r->name, .mode = r->mode, .uid = r->uid,
				 .gid = r->gid, .ino = r->ino, .policy = r->policy,
				 .time_ns = r->time_ns, .rdev = (dev_t)r->rdev };
	struct gm_inode *inode;
	char *link = NULL;
	int err;

	if (!dir)
		return -ENOENT;
	err = -ENOMEM;
	if (r->value_len && !(link = strndup(r->value, r->value_len)))
		goto out;
	err = -EINVAL;		/* a target with a NUL in it: a damaged journal */
	if (link && strlen(link) != r->value_len)
		goto out;
	a.link = link;
	err = gm_ns_new(fs, dir, &a, &inode);
	if (!err)
		gm_fs_put(fs, inode);
out:
	free(link);
	gm_fs_put(fs, dir);
	return err;
}

static int gm_replay_unlink(struct gm_fs *fs, const struct gm_jrec *r)
{
	struct gm_inode *dir = gm_replay_inode(fs, r->parent, "unlink");
	struct gm_inode *child;
	int err = -ENOENT;

	if (!dir)
		return err;
	child = gm_dentry_lookup(&fs->it, dir->ino, r->name);
	if (child) {
		bool rmdir = child->type == S_IFDIR;

		gm_fs_put(fs, child);
		err = gm_ns_unlink(fs, dir, r->name, rmdir, r->time_ns);
	}
	gm_fs_put(fs, dir);
	return err;
}

static int gm_replay_two(struct gm_fs *fs, const struct gm_jrec *r)
{
	struct gm_inode *a, *b;
	int err = -ENOENT;

	if (r->type == GM_J_LINK) {
		a = gm_replay_inode(fs, r->ino, "link");
		b = gm_replay_inode(fs, r->parent, "link");
	} else {
		a = gm_replay_inode(fs, r->parent, "rename");
		b = gm_replay_inode(fs, r->parent2, "rename");
	}
	if (a && b && r->type == GM_J_LINK)
		err = gm_ns_link(fs, a, b, r->name, r->time_ns);
	else if (a && b)
		err = gm_ns_rename(fs, a, r->name, b, r->name2, r->flags, r->time_ns);
	if (a)
		gm_fs_put(fs, a);
	if (b)
		gm_fs_put(fs, b);
	return err;
}

static int gm_replay_inode_rec(struct gm_fs *fs, const struct gm_jrec *r)
{
	struct gm_inode *inode = gm_replay_inode(fs, r->ino, "attribute change");
	int err;

	if (!inode)
		return -ENOENT;
	switch (r->type) {
	case GM_J_ATTR:
		err = gm_ns_set_attr(fs, inode, GM_ATTR_MODE | GM_ATTR_UID | GM_ATTR_GID,
				     r->mode, r->uid, r->gid, r->time_ns);
		break;
	case GM_J_POLICY:
		err = gm_ns_set_policy(fs, inode, r->policy);
		break;
	case GM_J_IFLAGS:
		err = gm_ns_set_iflags(fs, inode, r->flags, r->time_ns);
		break;
	case GM_J_TIMES:
		err = gm_ns_set_times(fs, inode, gm_ns_to_ts(r->atime_ns),
				      gm_ns_to_ts(r->mtime_ns), r->time_ns);
		break;
	case GM_J_XATTR_SET:
		err = gm_ns_xattr_set(fs, inode, r->name, r->value, r->value_len, 0);
		break;
	default:
		err = gm_ns_xattr_del(fs, inode, r->name);
		break;
	}
	gm_fs_put(fs, inode);
	return err;
}

static int gm_replay_one(void *ctx, const struct gm_jrec *r)
{
	struct gm_fs *fs = ctx;
	int err;

	switch (r->type) {
	case GM_J_NEW:
	case GM_J_NODE:
		err = gm_replay_new(fs, r);
		break;
	case GM_J_UNLINK:
		err = gm_replay_unlink(fs, r);
		break;
	case GM_J_PRIVATE:
		err = gm_private_replay(fs, r);
		break;
	case GM_J_INO_MARK:
		if (r->ino > fs->next_ino)
			fs->next_ino = r->ino;
		err = 0;
		break;
	case GM_J_LINK:
	case GM_J_RENAME:
		err = gm_replay_two(fs, r);
		break;
	default:
		err = gm_replay_inode_rec(fs, r);
		break;
	}
	/* One bad record must not cost the rest of the tree. */
	if (err) {
		gm_warn("journal: record type %u (%s) did not apply: %s", r->type,
			r->name ? r->name : "-", strerror(-err));
		fs->replay_failures++;
	}
	return 0;
}

struct gm_emit {
	struct gm_fs *fs;
	struct gm_journal *j;
	uint64_t mark;
	struct gm_inode **queue;	/* directories still to walk */
	size_t head, tail, cap;
};

static int gm_emit_push(struct gm_emit *e, struct gm_inode *dir)
{
	if (e->tail == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		struct gm_inode **q = realloc(e->queue, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		e->queue = q;
		e->cap = cap;
	}
	e->queue[e->tail++] = dir;
	return 0;
}

/* An inode's xattrs, then its chattr flags (last: replay of what they
 * forbid is not checked, but the order stays the one that happened). */
static int gm_emit_xattrs(struct gm_emit *e, struct gm_inode *inode)
{
	struct gm_jrec r = { .type = GM_J_XATTR_SET, .ino = inode->ino };
	struct gm_jrec fl = { .type = GM_J_IFLAGS, .ino = inode->ino, .flags = inode->iflags,
			      .time_ns = gm_ts_to_ns(inode->ctime) };
	int err = 0;

	for (struct gm_xattr *x = inode->xattrs; x && !err; x = x->next) {
		r.name = x->name;
		r.value = x->value;
		r.value_len = x->len;
		err = gm_journal_append(e->j, &r);
	}
	if (!err && inode->iflags)
		err = gm_journal_append(e->j, &fl);
	return err;
}

/* A directory's or node's times (a regular file's are its backing's). */
static int gm_emit_times(struct gm_emit *e, struct gm_inode *inode)
{
	struct gm_jrec r = gm_ns_times_rec(inode->ino, inode->atime, inode->mtime,
					   gm_ts_to_ns(inode->ctime));

	return gm_journal_append(e->j, &r);
}

static int gm_emit_entry(struct gm_emit *e, struct gm_inode *dir, struct gm_dentry *d)
{
	struct gm_inode *inode = d->inode;
	struct gm_jrec r = { .ino = inode->ino, .parent = dir->ino, .name = d->name,
			     .time_ns = gm_ts_to_ns(inode->ctime) };
	int err;

	if (inode->emit_mark == e->mark) {
		r.type = GM_J_LINK;	/* another name of a file already out */
		return gm_journal_append(e->j, &r);
	}
	inode->emit_mark = e->mark;
	gm_ns_create_rec(inode, &r);
	err = gm_journal_append(e->j, &r);
	if (!err)
		err = gm_emit_xattrs(e, inode);
	if (!err && inode->type == S_IFREG)
		err = gm_private_emit(e->j, inode->ino);
	if (!err && inode->type == S_IFDIR)
		err = gm_emit_push(e, inode);
	else if (!err && inode->type != S_IFREG)
		err = gm_emit_times(e, inode);
	return err;
}

static int gm_emit_root(struct gm_emit *e)
{
	struct gm_inode *root = e->fs->root;
	struct gm_jrec attr = { .type = GM_J_ATTR, .ino = root->ino, .mode = root->perm,
				.uid = root->uid, .gid = root->gid };
	struct gm_jrec pol = { .type = GM_J_POLICY, .ino = root->ino,
			       .policy = root->policy };
	/* The numbers removed files had stay taken. */
	struct gm_jrec mark = { .type = GM_J_INO_MARK,
				.ino = e->fs->ino_mark > e->fs->next_ino ? e->fs->ino_mark :
									  e->fs->next_ino };
	int err;

	err = gm_journal_append(e->j, &mark);
	if (!err)
		err = gm_journal_append(e->j, &attr);
	if (!err && root->policy != GM_PS_INHERIT)
		err = gm_journal_append(e->j, &pol);
	if (!err)
		err = gm_emit_xattrs(e, root);
	return err;
}

/* Breadth first, so every directory is created before what it holds. */
static int gm_emit_tree(void *ctx, struct gm_journal *fresh)
{
	struct gm_emit *e = ctx;
	struct gm_dentry *d;
	int err;

	e->j = fresh;
	err = gm_emit_root(e);
	if (!err)
		err = gm_emit_push(e, e->fs->root);
	while (!err && e->head < e->tail) {
		struct gm_inode *dir = e->queue[e->head++];

		cds_list_for_each_entry(d, &dir->children, sibling) {
			if (d->inode->is_virtual)
				continue;
			err = gm_emit_entry(e, dir, d);
			if (err)
				break;
		}
		/* After its entries, whose replay moves its mtime and ctime. */
		if (!err)
			err = gm_emit_times(e, dir);
	}
	return err;
}

int gm_fs_compact(struct gm_fs *fs)
{
	static uint64_t pass;
	struct gm_emit e = { .fs = fs };
	int err;

	pthread_mutex_lock(&fs->it.tree_lock);
	e.mark = ++pass;
	err = gm_journal_compact(&fs->journal, gm_emit_tree, &e);
	pthread_mutex_unlock(&fs->it.tree_lock);
	free(e.queue);
	if (err)
		gm_err("journal %s: compaction failed: %s", fs->journal.path, strerror(-err));
	return err;
}

/* A tree needs about one record per name; allow four, plus slack, so
 * compaction (a full rewrite under the tree lock) stays rare.  A tree
 * with many xattrs needs more than four a name: then wait for as many new
 * records as the last compaction wrote, which keeps its cost O(1) a
 * change (else one file with 5,000 xattrs would compact at every set). */
#define GM_COMPACT_SLACK 4096

void gm_fs_maybe_compact(struct gm_fs *fs)
{
	uint64_t live = (uint64_t)atomic_load(&fs->it.ninodes);
	uint64_t records, compacted;

	if (fs->replay_failures)
		return;		/* see gm_fs_setup: the journal must keep them */
	pthread_mutex_lock(&fs->it.tree_lock);
	records = fs->journal.records;
	compacted = fs->journal.compacted;
	pthread_mutex_unlock(&fs->it.tree_lock);
	if (records > 4 * live + GM_COMPACT_SLACK &&
	    records > 2 * compacted + GM_COMPACT_SLACK)
		gm_fs_compact(fs);
}

static int gm_fs_replay(struct gm_fs *fs)
{
	uint64_t dropped = 0;
	char *path;
	int err;

	if (asprintf(&path, "%s/journal", fs->opts->state_dir) < 0)
		return -ENOMEM;
	err = gm_journal_open(&fs->journal, path);
	if (err) {
		gm_err("journal %s: cannot open: %s", path, strerror(-err));
		free(path);
		return err;
	}
	free(path);
	fs->journaling = false;
	err = gm_journal_replay(&fs->journal, gm_replay_one, fs, &dropped);
	fs->journaling = true;
	if (err) {
		gm_err("journal %s: replay failed: %s", fs->journal.path, strerror(-err));
		return err;
	}
	if (dropped)
		gm_warn("journal %s: dropped a torn tail of %llu bytes (the last change "
			"before a crash)", fs->journal.path, (unsigned long long)dropped);
	gm_info("journal %s: %llu records replayed, %ld files and directories",
		fs->journal.path, (unsigned long long)fs->journal.records,
		atomic_load(&fs->it.ninodes) - 3);
	return 0;
}

/* Files whose backing was gone at replay and that still exist lost their
 * contents (the stores were unmounted or the machine rebooted). */
static void gm_fs_count_recreated(struct gm_inode *inode, void *ctx)
{
	unsigned *n = ctx;

	if (!inode->backing_recreated)
		return;
	inode->backing_recreated = false;
	/* A fresh backing is shared throughout: its old private ranges are
	 * gone with its contents (compaction drops their records). */
	gm_private_forget(inode->ino);
	if ((*n)++ < 16)
		gm_warn("file %llu: its backing object was missing; it came back empty",
			(unsigned long long)inode->ino);
}

static void gm_fs_warn_recreated(struct gm_fs *fs)
{
	unsigned n = 0;

	gm_itable_for_each(&fs->it, gm_fs_count_recreated, &n);
	if (n)
		gm_warn("%u files came back empty: their stores under %s were lost",
			n, fs->opts->state_dir);
}

/* A file of policy shim-secret whose shim file is not secret would hand
 * out ordinary memory under a secret name: replay keeps the object it
 * finds, so say so loudly where a journal and the module disagree. */
static void gm_fs_check_secret_one(struct gm_inode *inode, void *ctx)
{
	unsigned *n = ctx;
	bool secret = false;
	int err;

	if (inode->type != S_IFREG || inode->is_virtual || !gm_policy_secret(inode->policy))
		return;
	err = gm_shim_file_secret(inode->ino, &secret);
	if (!err && secret)
		return;
	(*n)++;
	gm_err("file %llu: policy shim-secret, but %s: its memory is not secret",
	       (unsigned long long)inode->ino,
	       err ? "it has no shim file" : "its shim file is an ordinary one");
}

static void gm_fs_check_secret(struct gm_fs *fs)
{
	unsigned n = 0;

	gm_itable_for_each(&fs->it, gm_fs_check_secret_one, &n);
	if (n)
		gm_err("%u files of policy shim-secret do not have secret memory", n);
}

int gm_fs_setup(struct gm_fs *fs, struct gm_opts *opts)
{
	int err;

	fs->opts = opts;
	fs->next_ino = GM_INO_FIRST;
	gm_private_attach(fs);
	err = gm_itable_init(&fs->it, gm_backing_evict, fs);
	if (err)
		return err;
	err = gm_fs_make_fixed(fs);
	if (err)
		goto err_itable;
	err = gm_pool_init(&fs->pool, opts->state_dir, opts->pool_bytes,
			   gm_policy_provider(opts->pagesize), (const uint32_t[GM_NPROV]){
				   [GMEMFS_PROV_HUGETLB_2M] = opts->hugepages_2m,
				   [GMEMFS_PROV_HUGETLB_1G] = opts->hugepages_1g });
	if (err)
		goto err_itable;
	err = gm_fs_replay(fs);
	if (err)
		goto err_pool;
	gm_fs_warn_recreated(fs);
	gm_fs_check_secret(fs);
	if (fs->replay_failures) {
		/* A file that did not come back still has its backing object:
		 * sweeping it, or compacting its name away, would make the
		 * loss final.  Keep both for a start that can apply them. */
		gm_err("journal %s: %u records did not apply; orphan sweep and "
		       "compaction skipped, nothing is deleted", fs->journal.path,
		       fs->replay_failures);
	} else {
		gm_backing_sweep_orphans(fs, false);
		err = gm_fs_compact(fs);
		if (err)
			goto err_journal;
	}
	gm_backing_rebalance(fs, NULL, 0);
	return 0;

err_journal:
	gm_journal_close(&fs->journal);
err_pool:
	gm_pool_fini(&fs->pool);
err_itable:
	gm_itable_fini(&fs->it);
	gm_private_detach();
	return err;
}

void gm_fs_teardown(struct gm_fs *fs)
{
	gm_private_detach();	/* the shim's event thread decides no more */
	gm_backing_idle_close_all(&fs->pool);	/* its list holds inodes */
	/* Files unlinked while still looked up (an unmount does not wait for
	 * their FORGETs) would be swept at the next start; sweeping them now
	 * lets an emptied hugetlb store be unmounted and its pages go back
	 * at exit.  Not after a replay that failed: nothing is deleted then. */
	if (!fs->replay_failures)
		gm_backing_sweep_orphans(fs, true);
	gm_itable_fini(&fs->it);
	gm_journal_close(&fs->journal);
	gm_pool_fini(&fs->pool);
}
