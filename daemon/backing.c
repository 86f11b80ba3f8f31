/*
 * Backing objects of regular files: creation under the file's provider,
 * moves between providers, eviction, the orphan sweep at start, and the
 * declared sizes the pool splits its budget by.  Not for: passthrough ids
 * (fsops_file.c) or the budget arithmetic (pool.c).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backing.h"
#include "log.h"

static struct gm_prov_inst *gm_backing_inst(struct gm_fs *fs, enum gm_pagesize ps)
{
	struct gm_prov_inst *pi = gm_pool_inst(&fs->pool, gm_policy_provider(ps));

	if (!pi)
		gm_err("policy %s: no provider instance serves it", gm_policy_name(ps));
	return pi;
}

/* Open the backing for id in pi, creating it.  When replaying, an existing
 * object is the file's contents; a missing one means they are gone, or
 * that a later record deletes the file (recover.c warns of survivors). */
static int gm_backing_open(struct gm_prov_inst *pi, uint64_t id, bool replay,
			   bool *recreated)
{
	int fd;

	if (replay) {
		fd = pi->prov->backing_open(pi, id, false);
		if (fd != -ENOENT)
			return fd;
		*recreated = true;
	}
	fd = pi->prov->backing_open(pi, id, true);
	if (fd == -EEXIST) {
		/* A leftover of a crash before the journal named it. */
		pi->prov->backing_unlink(pi, id);
		fd = pi->prov->backing_open(pi, id, true);
	}
	return fd;
}

int gm_backing_attach(struct gm_fs *fs, struct gm_inode *inode, bool replay)
{
	struct gm_prov_inst *pi = gm_backing_inst(fs, inode->policy);
	int fd;

	if (!pi)
		return -EOPNOTSUPP;
	fd = gm_backing_open(pi, inode->ino, replay, &inode->backing_recreated);
	if (fd < 0) {
		gm_err("file %llu: creating its backing in %s failed: %s",
		       (unsigned long long)inode->ino, pi->dir, strerror(-fd));
		/* Out of descriptors means out of room for files, to a client. */
		return fd == -EMFILE || fd == -ENFILE ? -ENOSPC : fd;
	}
	inode->pi = pi;
	inode->backing_fd = fd;
	return 0;
}

int gm_backing_move(struct gm_fs *fs, struct gm_inode *inode, enum gm_pagesize ps,
		    bool replay)
{
	struct gm_prov_inst *pi = gm_backing_inst(fs, ps);
	int fd, err;

	if (!pi)
		return -EOPNOTSUPP;
	if (pi == inode->pi)
		return 0;
	inode->backing_recreated = false;	/* the old store's answer no longer counts */
	fd = gm_backing_open(pi, inode->ino, replay, &inode->backing_recreated);
	if (fd < 0)
		return fd;
	close(inode->backing_fd);
	err = inode->pi->prov->backing_unlink(inode->pi, inode->ino);
	if (err && err != -ENOENT)
		gm_warn("file %llu: removing old backing in %s: %s",
			(unsigned long long)inode->ino, inode->pi->dir, strerror(-err));
	inode->pi = pi;
	inode->backing_fd = fd;
	return 0;
}

void gm_backing_evict(struct gm_itable *it, struct gm_inode *inode)
{
	struct gm_fs *fs = it->owner;
	int err;

	if (inode->type != S_IFREG || inode->is_virtual || !inode->pi)
		return;
	/* The rebalancer may be reading this inode's fd under its lock. */
	pthread_mutex_lock(&inode->lock);
	if (inode->backing_fd >= 0)
		close(inode->backing_fd);
	inode->backing_fd = -1;
	pthread_mutex_unlock(&inode->lock);
	err = inode->pi->prov->backing_unlink(inode->pi, inode->ino);
	if (err && err != -ENOENT)
		gm_err("file %llu: removing backing in %s failed: %s",
		       (unsigned long long)inode->ino, inode->pi->dir, strerror(-err));
	if (fs)
		gm_rebalancer_kick(&fs->rebalancer);	/* its memory may be free now */
}

int gm_backing_stat(struct gm_inode *inode, struct stat *st)
{
	if (inode->backing_fd < 0)
		return -EBADF;
	return fstat(inode->backing_fd, st) ? -errno : 0;
}

struct gm_sweep {
	struct gm_fs *fs;
	struct gm_prov_inst *pi;
	unsigned removed;
};

static int gm_sweep_one(void *ctx, uint64_t id)
{
	struct gm_sweep *sw = ctx;
	struct gm_inode *inode = gm_inode_find(&sw->fs->it, id);
	bool ours = inode && inode->pi == sw->pi;

	if (inode)
		gm_inode_put(&sw->fs->it, inode, 1);
	if (ours)
		return 0;
	if (sw->pi->prov->backing_unlink(sw->pi, id) == 0)
		sw->removed++;
	return 0;
}

void gm_backing_sweep_orphans(struct gm_fs *fs)
{
	for (unsigned i = 0; i < GM_NPROV; i++) {
		struct gm_sweep sw = { .fs = fs, .pi = &fs->pool.inst[i] };
		int err;

		if (!sw.pi->prov)
			continue;
		err = sw.pi->prov->for_each_backing(sw.pi, gm_sweep_one, &sw);
		if (err)
			gm_warn("%s: orphan sweep stopped: %s", sw.pi->dir, strerror(-err));
		if (sw.removed)
			gm_info("%s: removed %u backing objects no file refers to",
				sw.pi->dir, sw.removed);
	}
}

static uint64_t gm_backing_declared(struct gm_inode *inode)
{
	struct stat st;
	uint64_t bytes;

	if (fstat(inode->backing_fd, &st))
		return 0;
	bytes = (uint64_t)st.st_blocks * 512;
	if ((uint64_t)st.st_size > bytes)
		bytes = st.st_size;
	/* An empty file still marks its provider as one that needs room. */
	return bytes ? bytes : 4096;
}

struct gm_declared {
	struct gm_inode *extra_inode;
	uint64_t extra_size;
	uint64_t bytes[GM_NPROV];
};

static void gm_declared_add(struct gm_inode *inode, void *ctx)
{
	struct gm_declared *dc = ctx;
	uint64_t bytes;

	if (inode->type != S_IFREG || inode->is_virtual)
		return;
	pthread_mutex_lock(&inode->lock);
	if (inode->pi && inode->backing_fd >= 0) {
		bytes = gm_backing_declared(inode);
		if (inode == dc->extra_inode && dc->extra_size > bytes)
			bytes = dc->extra_size;
		dc->bytes[inode->pi->prov->id] += bytes;
	}
	pthread_mutex_unlock(&inode->lock);
}

/* Callers hold no inode lock: each file is locked here in turn. */
int gm_backing_rebalance(struct gm_fs *fs, struct gm_inode *extra_inode,
			 uint64_t extra_size)
{
	struct gm_declared dc = { .extra_inode = extra_inode, .extra_size = extra_size };

	gm_itable_for_each(&fs->it, gm_declared_add, &dc);
	return gm_pool_rebalance(&fs->pool, dc.bytes);
}

void gm_backing_make_room(struct gm_fs *fs, struct gm_inode *inode)
{
	struct gm_pool_usage u;

	if (gm_pool_usage(&fs->pool, &u) || !gm_pool_low(&u, inode->pi->prov->id))
		return;
	gm_backing_rebalance(fs, inode, u.free / 2);
}
