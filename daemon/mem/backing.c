/*
 * Backing objects of regular files: creation under the file's provider,
 * moves between providers, eviction, the orphan sweep at start, and the
 * declared sizes the pool splits its budget by.  Also the choice among the
 * providers a policy allows (auto, fallbacks) by the file's size and the
 * pool's room, and the size, read, write and fallocate paths of providers
 * FUSE passthrough cannot serve.  Not for: passthrough ids (fuse/file.c)
 * or the budget arithmetic (pool.c).  The rebalancer calls in here for
 * declared sizes; this file only tells the pool of freed memory
 * (gm_pool_note_freed), never the rebalancer itself.
 *
 * Declared sizes are running sums (pi->declared), not walks: each file
 * caches what it counts for (inode->declared) and every time the daemon
 * sees its backing's fstat (a stat, the end of a use of its fd: a size
 * change, a daemon write, a release) it moves the sum by the difference.
 * What passthrough writes and faults add in between, the daemon does not
 * see; the split takes the larger of a store's sum and its statfs use
 * (gm_pool_split), so the sum can only lag by the part of a size grown
 * through passthrough that holds no pages yet, until the file's next stat
 * or last close.
 *
 * Backing fds: a provider that can reopen a backing by id (prov->reopen:
 * the tmpfs and hugetlbfs stores) has its fd open only while used
 * (inode->fd_users: an open file handle, a daemon operation) and while
 * among the store's few most recently idle files (pi->idle), so the
 * number of files is not bound by RLIMIT_NOFILE; the others keep theirs
 * for the file's life.  The object's name in the store, not an fd, is
 * what keeps its contents across a restart.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "mem/backing.h"
#include "prov/shim.h"
#include "core/log.h"

/*
 * Bytes a file counts for in the pool, from the backing's plain fstat (no
 * stat_fixup: an attached kvm-gmem file counts its size, which its
 * reservation covers; the fixup's populated count can not exceed that).
 */
uint64_t gm_backing_declared(const struct stat *st)
{
	uint64_t bytes = (uint64_t)st->st_blocks * 512;

	if ((uint64_t)st->st_size > bytes)
		bytes = st->st_size;
	/* An empty file still marks its provider as one that needs room. */
	return bytes ? bytes : 4096;
}

/* Count inode for bytes in its provider's sum.  inode->lock held, or the
 * inode not yet visible.  Unsigned wrap makes a shrink a subtraction. */
static void gm_backing_account(struct gm_inode *inode, uint64_t bytes)
{
	atomic_fetch_add(&inode->pi->declared, bytes - inode->declared);
	inode->declared = bytes;
}

/* Take inode out of its provider's sum (eviction, a move).  inode->lock held. */
static void gm_backing_unaccount(struct gm_inode *inode)
{
	atomic_fetch_sub(&inode->pi->declared, inode->declared);
	inode->declared = 0;
}

/*
 * Idle fds: a reopen store keeps the fds of its max_idle most recently
 * idle files open (pi->idle, oldest first), so a loop of open and close
 * through the mount does not reopen the backing by name each time.  A
 * listed file has fd_users == 0 and an open fd; its next use takes it off.
 */

/* Take inode off its store's idle list, if it is on it.  inode->lock held. */
static void gm_idle_del(struct gm_inode *inode)
{
	struct gm_prov_inst *pi = inode->pi;

	pthread_mutex_lock(&pi->idle_lock);
	if (inode->idle) {
		cds_list_del(&inode->idle_node);
		inode->idle = false;
		pi->nidle--;
	}
	pthread_mutex_unlock(&pi->idle_lock);
}

/* List inode (fd open, unused) as the newest idle file; the oldest comes
 * off when there are more than max_idle (>= 1), and is returned.
 * inode->lock held. */
static struct gm_inode *gm_idle_add(struct gm_inode *inode)
{
	struct gm_prov_inst *pi = inode->pi;
	struct gm_inode *old = NULL;

	pthread_mutex_lock(&pi->idle_lock);
	cds_list_add_tail(&inode->idle_node, &pi->idle);
	inode->idle = true;
	if (++pi->nidle > pi->max_idle) {
		old = cds_list_first_entry(&pi->idle, struct gm_inode, idle_node);
		cds_list_del(&old->idle_node);
		old->idle = false;
		pi->nidle--;
	}
	pthread_mutex_unlock(&pi->idle_lock);
	return old;
}

/*
 * Close the fd of a file the list let go, unless it was used or listed
 * again since.  The caller holds another inode's lock, so old's is only
 * tried: if someone holds it right now, old keeps its fd until its next
 * use ends or it is evicted (rare: old is the least recently used).  The
 * caller's RCU read-side section began before old came off the list, so
 * an eviction meanwhile cannot free it under us.
 */
static void gm_idle_close(struct gm_inode *old)
{
	bool unused;

	if (pthread_mutex_trylock(&old->lock))
		return;
	pthread_mutex_lock(&old->pi->idle_lock);
	unused = !old->idle && old->fd_users == 0;
	pthread_mutex_unlock(&old->pi->idle_lock);
	if (unused && old->backing_fd >= 0) {
		close(old->backing_fd);
		old->backing_fd = -1;
	}
	pthread_mutex_unlock(&old->lock);
}

/* After the daemon used or opened the fd: count what the file holds now.
 * Unless someone still uses it or the provider cannot reopen it, keep the
 * fd among the idle ones (may_idle) or close it.  inode->lock held. */
static void gm_backing_settle(struct gm_inode *inode, bool may_idle)
{
	struct gm_inode *old;
	struct stat st;

	(void)gm_backing_stat_size(inode, &st);	/* counts what it holds now */
	if (inode->fd_users || !inode->pi->prov->reopen)
		return;
	if (!may_idle || inode->pi->max_idle == 0) {
		close(inode->backing_fd);
		inode->backing_fd = -1;
		return;
	}
	gm_rcu_read_lock();
	old = gm_idle_add(inode);
	if (old)
		gm_idle_close(old);
	gm_rcu_read_unlock();
}

void gm_backing_idle_close_all(struct gm_pool *pool)
{
	for (unsigned i = 0; i < GM_NPROV; i++) {
		struct gm_prov_inst *pi = &pool->inst[i];
		struct gm_inode *inode, *tmp;

		if (!pi->prov)
			continue;
		pthread_mutex_lock(&pi->idle_lock);
		cds_list_for_each_entry_safe(inode, tmp, &pi->idle, idle_node) {
			cds_list_del(&inode->idle_node);
			inode->idle = false;
			close(inode->backing_fd);
			inode->backing_fd = -1;
		}
		pi->nidle = 0;
		pthread_mutex_unlock(&pi->idle_lock);
	}
}

int gm_backing_fd_get(struct gm_inode *inode)
{
	int fd;

	if (inode->backing_fd >= 0 && inode->fd_users == 0 && inode->pi->prov->reopen)
		gm_idle_del(inode);
	if (inode->backing_fd < 0) {
		if (!inode->pi || !inode->pi->prov->reopen)
			return -EBADF;
		fd = inode->pi->prov->backing_open(inode->pi, inode->ino, false);
		if (fd < 0) {
			gm_err("file %llu: reopening its backing in %s failed: %s",
			       (unsigned long long)inode->ino, inode->pi->dir, strerror(-fd));
			return fd;
		}
		inode->backing_fd = fd;
	}
	inode->fd_users++;
	return inode->backing_fd;
}

void gm_backing_fd_put(struct gm_inode *inode)
{
	if (inode->fd_users == 0 || inode->backing_fd < 0) {
		gm_err("file %llu: backing fd put without a use", (unsigned long long)inode->ino);
		return;
	}
	inode->fd_users--;
	gm_backing_settle(inode, true);
}

int gm_backing_set_times(struct gm_inode *inode, const struct timespec ts[2])
{
	int fd = gm_backing_fd_get(inode);
	int err;

	if (fd < 0)
		return fd;
	err = futimens(fd, ts) ? -errno : 0;
	gm_backing_fd_put(inode);
	return err;
}

void gm_backing_touch_ctime(struct gm_inode *inode)
{
	int fd = gm_backing_fd_get(inode);
	struct stat st;

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0)
		(void)fchmod(fd, st.st_mode & 07777);
	gm_backing_fd_put(inode);
}

void gm_backing_mirror_noatime(struct gm_inode *inode, bool noatime)
{
	int fd, bf = 0;

	pthread_mutex_lock(&inode->lock);
	fd = gm_backing_fd_get(inode);
	if (fd < 0)
		goto out_unlock;
	if (ioctl(fd, FS_IOC_GETFLAGS, &bf) == 0) {
		bf = (bf & ~FS_NOATIME_FL) | (noatime ? FS_NOATIME_FL : 0);
		if (ioctl(fd, FS_IOC_SETFLAGS, &bf))
			gm_warn("file %llu: noatime on its backing: %s",
				(unsigned long long)inode->ino, strerror(errno));
	}
	gm_backing_fd_put(inode);
out_unlock:
	pthread_mutex_unlock(&inode->lock);
}

/*
 * Can a fixed-size store (hugetlb) take a file of size bytes besides the
 * other files it holds?  Their sizes count in full: a hugetlb fault past
 * the store's pages is SIGBUS in the guest, so sizes are promises.  Dynamic
 * stores always can: the rebalancer moves room and the kernel says ENOSPC.
 */
static bool gm_backing_fits(struct gm_prov_inst *pi, struct gm_inode *inode, uint64_t size)
{
	uint64_t others;

	/* Size 0 fits anywhere present; it is also the case of callers that
	 * hold inode->lock, which is taken below. */
	if (!pi->prov->fixed_limit || size == 0)
		return true;
	if (size % pi->prov->page_size)
		size += pi->prov->page_size - size % pi->prov->page_size;
	pthread_mutex_lock(&inode->lock);
	others = atomic_load(&pi->declared) - (inode->pi == pi ? inode->declared : 0);
	pthread_mutex_unlock(&inode->lock);
	return others <= pi->limit && size <= pi->limit - others;
}

/*
 * The provider a file of policy ps and size bytes gets: the first of the
 * policy's candidates that is present and has room; for auto, only page
 * sizes that divide the size (a 3 MiB file gets no 2 MiB hugetlb pages).
 * NULL when none can (logged, naming the file and what each lacked).
 */
static struct gm_prov_inst *gm_backing_choose(struct gm_fs *fs, struct gm_inode *inode,
					      enum gm_pagesize ps, uint64_t size)
{
	uint32_t cand[GM_POLICY_MAX_CANDIDATES];
	unsigned n = gm_policy_candidates(ps, cand);
	bool is_auto = gm_policy_primary(ps) == GM_PS_AUTO;

	for (unsigned i = 0; i < n; i++) {
		struct gm_prov_inst *pi = gm_pool_inst(&fs->pool, cand[i]);
		bool last = i + 1 == n;

		if (!pi) {
			if (!is_auto)
				gm_info("file %llu: policy %s: %s is unavailable: %s",
					(unsigned long long)inode->ino, gm_policy_text(ps),
					gmemfs_prov_name(cand[i]), fs->pool.absent[cand[i]] ?
					fs->pool.absent[cand[i]] : "not served");
			continue;
		}
		if (is_auto && !last && (size == 0 || size % pi->prov->page_size))
			continue;
		if (gm_backing_fits(pi, inode, size))
			return pi;
		if (!is_auto)
			gm_info("file %llu: policy %s: %s has no room for %" PRIu64 " bytes",
				(unsigned long long)inode->ino, gm_policy_text(ps), pi->prov->name,
				size);
	}
	gm_warn("file %llu: policy %s: no provider it allows can give %" PRIu64 " bytes",
		(unsigned long long)inode->ino, gm_policy_text(ps), size);
	return NULL;
}

/* Open the backing for id in pi, creating it.  When replaying, an existing
 * object is the file's contents; a missing one means they are gone, or
 * that a later record deletes the file (meta/recover.c warns of survivors). */
static int gm_backing_open(struct gm_prov_inst *pi, uint64_t id, bool replay,
			   bool *recreated, enum gm_pagesize ps)
{
	unsigned create = GM_BACKING_CREATE | (gm_policy_secret(ps) ? GM_BACKING_SECRET : 0);
	int fd;

	if (replay) {
		fd = pi->prov->backing_open(pi, id, 0);
		if (fd != -ENOENT)
			return fd;
		*recreated = true;
	}
	fd = pi->prov->backing_open(pi, id, create);
	if (fd == -EEXIST) {
		/* A leftover of a crash before the journal named it. */
		pi->prov->backing_unlink(pi, id);
		fd = pi->prov->backing_open(pi, id, create);
	}
	return fd;
}

/* Replay: a file whose policy allows several providers was moved to one
 * of them by its size; find the store that holds its backing.  An auto
 * file made before auto had shmem-advise is in shmem-thp. */
static struct gm_prov_inst *gm_backing_find(struct gm_fs *fs, struct gm_inode *inode,
					    int *fd)
{
	uint32_t cand[GM_POLICY_MAX_CANDIDATES + 1];
	unsigned n = gm_policy_candidates(inode->policy, cand);

	if (gm_policy_primary(inode->policy) == GM_PS_AUTO)
		cand[n++] = GMEMFS_PROV_SHMEM_THP;

	for (unsigned i = 0; i < n; i++) {
		struct gm_prov_inst *pi = gm_pool_inst(&fs->pool, cand[i]);

		if (!pi)
			continue;
		*fd = pi->prov->backing_open(pi, inode->ino, false);
		if (*fd >= 0)
			return pi;
	}
	return NULL;
}

int gm_backing_attach(struct gm_fs *fs, struct gm_inode *inode, bool replay)
{
	struct gm_prov_inst *pi = NULL;
	int fd = -1;

	if (replay)
		pi = gm_backing_find(fs, inode, &fd);
	if (!pi) {
		pi = gm_backing_choose(fs, inode, inode->policy, 0);
		if (!pi)
			return -ENOSPC;
		fd = gm_backing_open(pi, inode->ino, replay, &inode->backing_recreated,
				     inode->policy);
	}
	if (fd < 0) {
		gm_err("file %llu: creating its backing in %s failed: %s",
		       (unsigned long long)inode->ino, pi->dir, strerror(-fd));
		/* Out of descriptors means out of room for files, to a client. */
		return fd == -EMFILE || fd == -ENFILE ? -ENOSPC : fd;
	}
	inode->pi = pi;
	inode->backing_fd = fd;
	inode->declared = 0;
	/* Not yet in the table: an idle list must hold only inodes that
	 * eviction and RCU free (a failed create frees it directly). */
	gm_backing_settle(inode, false);
	return 0;
}

/* A shim file to or from shim-secret stays in the shim's store but needs
 * a shim file of the other kind: the empty one is replaced.  Replay keeps
 * what it found, which is the file's last state; one it had to recreate
 * is empty and takes the policy's kind.  inode->lock held. */
static int gm_backing_rekind(struct gm_inode *inode, enum gm_pagesize ps, bool replay)
{
	struct gm_prov_inst *pi = inode->pi;
	int fd, err;

	if (gm_policy_secret(ps) == gm_policy_secret(inode->policy) ||
	    (replay && !inode->backing_recreated))
		return 0;
	if (inode->backing_fd >= 0) {
		gm_idle_del(inode);
		close(inode->backing_fd);
		inode->backing_fd = -1;
	}
	err = pi->prov->backing_unlink(pi, inode->ino);
	if (err && err != -ENOENT)
		gm_warn("file %llu: removing its %s backing in %s: %s",
			(unsigned long long)inode->ino, gm_policy_text(inode->policy), pi->dir,
			strerror(-err));
	gm_backing_unaccount(inode);
	fd = gm_backing_open(pi, inode->ino, false, &inode->backing_recreated, ps);
	if (fd < 0)
		return fd;
	inode->backing_fd = fd;
	gm_backing_settle(inode, true);
	return 0;
}

/* Move an empty file's backing to pi, for policy ps.  inode->lock held. */
static int gm_backing_move_to(struct gm_inode *inode, struct gm_prov_inst *pi,
			      enum gm_pagesize ps, bool replay)
{
	int fd, err;

	if (pi == inode->pi)
		return gm_backing_rekind(inode, ps, replay);
	inode->backing_recreated = false;	/* the old store's answer no longer counts */
	fd = gm_backing_open(pi, inode->ino, replay, &inode->backing_recreated, ps);
	if (fd < 0)
		return fd;
	if (inode->backing_fd >= 0) {
		gm_idle_del(inode);
		close(inode->backing_fd);
	}
	err = inode->pi->prov->backing_unlink(inode->pi, inode->ino);
	if (err && err != -ENOENT)
		gm_warn("file %llu: removing old backing in %s: %s",
			(unsigned long long)inode->ino, inode->pi->dir, strerror(-err));
	gm_backing_unaccount(inode);
	inode->pi = pi;
	inode->backing_fd = fd;
	gm_backing_settle(inode, true);	/* an open file still uses it */
	return 0;
}

/* The provider an empty file of policy ps goes to: its current one if ps
 * allows it (replay found it there), else the first available.  A size
 * of 0 fits anywhere present, so no other file is looked at (callers hold
 * this file's lock).  NULL (logged) if none is available. */
static struct gm_prov_inst *gm_backing_target(struct gm_fs *fs, struct gm_inode *inode,
					      enum gm_pagesize ps)
{
	uint32_t cand[GM_POLICY_MAX_CANDIDATES];
	unsigned n = gm_policy_candidates(ps, cand);

	for (unsigned i = 0; i < n; i++) {
		if (inode->pi && inode->pi->prov->id == cand[i])
			return inode->pi;
	}
	return gm_backing_choose(fs, inode, ps, 0);
}

int gm_backing_policy_check(struct gm_fs *fs, struct gm_inode *inode, enum gm_pagesize ps)
{
	/* The move itself would fail, after the journal has the change. */
	if (gm_policy_secret(ps) && !gm_shim_secret_ready()) {
		gm_info("file %llu: policy %s refused: the shim module has no carve-out",
			(unsigned long long)inode->ino, gm_policy_text(ps));
		return -EOPNOTSUPP;
	}
	return gm_backing_target(fs, inode, ps) ? 0 : -ENOSPC;
}

int gm_backing_move(struct gm_fs *fs, struct gm_inode *inode, enum gm_pagesize ps,
		    bool replay)
{
	struct gm_prov_inst *pi = gm_backing_target(fs, inode, ps);

	if (!pi)
		return -ENOSPC;
	return gm_backing_move_to(inode, pi, ps, replay);
}

/* A provider's accounting of a file changes under pool->lock. */
static int gm_backing_forget_locked(struct gm_pool *pool, void *ctx)
{
	struct gm_inode *inode = ctx;

	(void)pool;
	inode->pi->prov->forget(inode->pi, inode->ino);
	return 0;
}

void gm_backing_evict(struct gm_itable *it, struct gm_inode *inode)
{
	struct gm_fs *fs = it->owner;
	int err;

	if (inode->type != S_IFREG || inode->is_virtual || !inode->pi)
		return;
	/* A stat of its directory's entries may still hold its lock. */
	pthread_mutex_lock(&inode->lock);
	gm_idle_del(inode);
	if (inode->backing_fd >= 0)
		close(inode->backing_fd);
	inode->backing_fd = -1;
	gm_backing_unaccount(inode);
	pthread_mutex_unlock(&inode->lock);
	if (inode->pi->prov->forget && fs)
		gm_pool_locked(&fs->pool, gm_backing_forget_locked, inode);
	err = inode->pi->prov->backing_unlink(inode->pi, inode->ino);
	if (err && err != -ENOENT)
		gm_err("file %llu: removing backing in %s failed: %s",
		       (unsigned long long)inode->ino, inode->pi->dir, strerror(-err));
	if (fs)
		gm_pool_note_freed(&fs->pool);	/* its memory may be free now */
}

int gm_backing_stat_size(struct gm_inode *inode, struct stat *st)
{
	int err;

	if (inode->backing_fd >= 0)
		err = fstat(inode->backing_fd, st) ? -errno : 0;
	else if (inode->pi && inode->pi->prov->backing_stat)
		err = inode->pi->prov->backing_stat(inode->pi, inode->ino, st);
	else
		err = -EBADF;
	if (!err)
		gm_backing_account(inode, gm_backing_declared(st));
	return err;
}

int gm_backing_stat(struct gm_inode *inode, struct stat *st)
{
	int err = gm_backing_stat_size(inode, st);

	if (err)
		return err;
	if (inode->pi && inode->pi->prov->stat_fixup)
		inode->pi->prov->stat_fixup(inode->pi, inode->ino, st);
	return 0;
}

struct gm_sweep {
	struct gm_fs *fs;
	struct gm_prov_inst *pi;
	bool unlinked;		/* an inode with no name left is an orphan too */
	unsigned removed;
};

static int gm_sweep_one(void *ctx, uint64_t id)
{
	struct gm_sweep *sw = ctx;
	struct gm_inode *inode = gm_inode_find(&sw->fs->it, id);
	bool ours = inode && inode->pi == sw->pi &&
		    !(sw->unlinked && inode->nlink == 0);

	if (inode)
		gm_inode_put(&sw->fs->it, inode, 1);
	if (ours)
		return 0;
	if (sw->pi->prov->backing_unlink(sw->pi, id) == 0)
		sw->removed++;
	return 0;
}

void gm_backing_sweep_orphans(struct gm_fs *fs, bool unlinked)
{
	for (unsigned i = 0; i < GM_NPROV; i++) {
		struct gm_sweep sw = { .fs = fs, .pi = &fs->pool.inst[i], .unlinked = unlinked };
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

/* Callers hold no inode lock: extra_inode's is taken here. */
int gm_backing_rebalance(struct gm_fs *fs, struct gm_inode *extra_inode,
			 uint64_t extra_size)
{
	uint64_t declared[GM_NPROV];

	for (unsigned i = 0; i < GM_NPROV; i++)
		declared[i] = atomic_load(&fs->pool.inst[i].declared);
	if (extra_inode) {
		pthread_mutex_lock(&extra_inode->lock);
		if (extra_inode->pi && extra_size > extra_inode->declared)
			declared[extra_inode->pi->prov->id] += extra_size - extra_inode->declared;
		pthread_mutex_unlock(&extra_inode->lock);
	}
	return gm_pool_rebalance(&fs->pool, declared);
}

void gm_backing_make_room(struct gm_fs *fs, struct gm_inode *inode)
{
	struct gm_pool_usage u;

	if (gm_pool_usage(&fs->pool, &u) || !gm_pool_low(&u, inode->pi->prov->id))
		return;
	gm_backing_rebalance(fs, inode, u.free / 2);
}

/* Empty (nothing written, size 0) and no passthrough open pins the backing:
 * the file may still go to another provider.  inode->lock held. */
static bool gm_backing_movable(struct gm_inode *inode)
{
	struct stat st;

	/* A file with a provider-side fixup (attached kvm-gmem) has a size:
	 * the plain stat decides as well, without walking its pages. */
	if (inode->backing_id > 0 || gm_backing_stat_size(inode, &st))
		return false;
	return st.st_size == 0 && st.st_blocks == 0;
}

/*
 * Before an empty file first gets a size, a policy with choices (auto, a
 * fallback) picks its provider by that size and the pool's room; after
 * that, a fixed store (hugetlb) must have room for the new size.  The
 * choice runs without the inode lock (the fit takes it to read what the
 * file already counts for), the move under it, checking again that
 * nothing came in between.
 */
static int gm_backing_resolve(struct gm_fs *fs, struct gm_inode *inode, uint64_t size)
{
	uint32_t cand[GM_POLICY_MAX_CANDIDATES];
	struct gm_prov_inst *pi, *cur;
	bool movable;
	int err;

	pthread_mutex_lock(&inode->lock);
	movable = gm_backing_movable(inode);
	cur = inode->pi;
	pthread_mutex_unlock(&inode->lock);

	if (movable && gm_policy_candidates(inode->policy, cand) > 1)
		pi = gm_backing_choose(fs, inode, inode->policy, size);
	else
		pi = gm_backing_fits(cur, inode, size) ? cur : NULL;
	if (!pi) {
		if (!movable)
			gm_info("file %llu: %s has no room for %" PRIu64 " bytes, and the file "
				"cannot move (it holds data or is open with passthrough)",
				(unsigned long long)inode->ino, cur->prov->name, size);
		return -ENOSPC;
	}
	if (pi == cur)
		return 0;
	err = -EBUSY;
	pthread_mutex_lock(&inode->lock);
	if (inode->pi == cur && gm_backing_movable(inode))
		err = gm_backing_move_to(inode, pi, inode->policy, false);
	pthread_mutex_unlock(&inode->lock);
	if (!err)
		gm_info("file %llu: policy %s: served by %s for a size of %" PRIu64,
			(unsigned long long)inode->ino, gm_policy_text(inode->policy),
			pi->prov->name, size);
	return err;
}

int gm_backing_set_size(struct gm_fs *fs, struct gm_inode *inode, uint64_t size)
{
	const struct gm_provider *prov;
	int fd, err;

	err = -EFBIG;
	if (size > fs->pool.budget) {
		gm_info("file %llu: size %" PRIu64 " refused: larger than the pool (%" PRIu64
			" bytes)", (unsigned long long)inode->ino, size, fs->pool.budget);
		return err;
	}
	err = gm_backing_resolve(fs, inode, size);
	if (err)
		return err;
	gm_backing_rebalance(fs, inode, size);
	pthread_mutex_lock(&inode->lock);
	fd = err = gm_backing_fd_get(inode);
	if (fd < 0)
		goto out_unlock;
	prov = inode->pi->prov;
	if (prov->truncate)
		err = prov->truncate(inode->pi, inode->ino, fd, size);
	else
		err = ftruncate(fd, (off_t)size) ? -errno : 0;
	gm_backing_fd_put(inode);	/* counts the new size */
out_unlock:
	pthread_mutex_unlock(&inode->lock);
	return err;
}

int gm_backing_fallocate(struct gm_fs *fs, struct gm_inode *inode, int mode,
			 uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	int fd, err;

	if (!(mode & FALLOC_FL_PUNCH_HOLE)) {
		err = -ENOSPC;
		if (end > fs->pool.budget) {
			gm_info("file %llu: fallocate to %" PRIu64 " refused: larger than the "
				"pool", (unsigned long long)inode->ino, end);
			return err;
		}
		err = gm_backing_resolve(fs, inode, end);
		if (err)
			return err;
		gm_backing_rebalance(fs, inode, end);
	}
	pthread_mutex_lock(&inode->lock);
	fd = err = gm_backing_fd_get(inode);
	if (fd >= 0) {
		if (inode->pi->prov->fallocate)
			err = inode->pi->prov->fallocate(inode->pi, inode->ino, fd, mode, off,
							 len);
		else
			err = fallocate(fd, mode, (off_t)off, (off_t)len) ? -errno : 0;
		gm_backing_fd_put(inode);	/* counts what it holds now */
	}
	pthread_mutex_unlock(&inode->lock);
	if (err == -ENOSPC)
		gm_info("file %llu: fallocate of %" PRIu64 " bytes at %" PRIu64 ": the pool "
			"is full", (unsigned long long)inode->ino, len, off);
	return err;
}

ssize_t gm_backing_read(struct gm_inode *inode, void *buf, size_t len, off_t off)
{
	const struct gm_provider *prov;
	struct stat st;
	ssize_t n;
	int fd;

	pthread_mutex_lock(&inode->lock);
	n = gm_backing_stat_size(inode, &st);
	if (n)
		goto out_unlock;
	if (off >= st.st_size)
		goto out_unlock;
	if ((uint64_t)len > (uint64_t)(st.st_size - off))
		len = (size_t)(st.st_size - off);
	fd = (int)(n = gm_backing_fd_get(inode));
	if (fd < 0)
		goto out_unlock;
	prov = inode->pi->prov;
	if (prov->read)
		n = prov->read(inode->pi, inode->ino, fd, buf, len, off);
	else if ((n = pread(fd, buf, len, off)) < 0)
		n = -errno;
	gm_backing_fd_put(inode);
out_unlock:
	pthread_mutex_unlock(&inode->lock);
	return n;
}

/* Does end lie past the file's end?  inode->lock held. */
static bool gm_backing_past_end(struct gm_inode *inode, uint64_t end)
{
	struct stat st;

	return gm_backing_stat_size(inode, &st) || end > (uint64_t)st.st_size;
}

/* A write past the end of a fixed-store file grows it first, to whole
 * pages (hugetlbfs sizes are), through the size path and its checks. */
static int gm_backing_grow_for_write(struct gm_fs *fs, struct gm_inode *inode, uint64_t end)
{
	uint64_t page;
	struct stat st;
	int err;

	pthread_mutex_lock(&inode->lock);
	err = gm_backing_stat_size(inode, &st);
	page = inode->pi->prov->page_size;
	pthread_mutex_unlock(&inode->lock);
	if (err || end <= (uint64_t)st.st_size)
		return err;
	if (end % page)
		end += page - end % page;
	return gm_backing_set_size(fs, inode, end);
}

ssize_t gm_backing_write(struct gm_fs *fs, struct gm_inode *inode, const void *buf,
			 size_t len, off_t off)
{
	const struct gm_provider *prov;
	ssize_t n;
	int fd, err;

	pthread_mutex_lock(&inode->lock);
	prov = inode->pi->prov;
	pthread_mutex_unlock(&inode->lock);
	if (prov->fixed_limit) {
		err = gm_backing_grow_for_write(fs, inode, (uint64_t)off + len);
		if (err)
			return err;
	}
	pthread_mutex_lock(&inode->lock);
	prov = inode->pi->prov;
	/* A truncate may have come between the grow and this lock: a fixed
	 * store's write goes through a mapping, and a mapping past the end
	 * would be SIGBUS in the daemon. */
	n = -EFBIG;
	if (prov->fixed_limit && gm_backing_past_end(inode, (uint64_t)off + len))
		goto out_unlock;
	fd = (int)(n = gm_backing_fd_get(inode));
	if (fd < 0)
		goto out_unlock;
	if (prov->write)
		n = prov->write(inode->pi, inode->ino, fd, buf, len, off);
	else if ((n = pwrite(fd, buf, len, off)) < 0)
		n = -errno;
	gm_backing_fd_put(inode);	/* counts a size the write grew */
out_unlock:
	pthread_mutex_unlock(&inode->lock);
	return n;
}
