/*
 * The page pool (see pool.h): attaches the provider instances under the
 * state dir and keeps the sum of their size limits within the budget, so
 * the kernel, not the daemon, refuses memory past it.
 *
 * Locking: what pool->lock guards, pool.h; lock order, meta/inode.h.  The
 * rest of struct gm_pool is immutable after init.
 *
 * Not for: deciding what files declare (callers sum file sizes) or how a
 * store is mounted (prov/tmpfs.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "common/hugepages.h"
#include "core/log.h"
#include "core/options.h"
#include "mem/pool.h"
#include "prov/shim.h"
#include "gmemfs.h"

_Static_assert(GMEMFS_PROV_SHMEM_ADVISE < GM_NPROV, "inst[] is indexed by provider id");

/* Limits are whole pages: tmpfs counts its size= in pages. */
#define POOL_PAGE		4096ULL
/* A shrink loses a race when a fault or write grows the store between our
 * reading its use and the remount; usage only grows so far in a burst. */
#define POOL_REBALANCE_TRIES	4
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

/* The providers every pool attaches; hugetlb ones only when they have
 * pages (pool_attach_hugetlb), the shim only when its module is there. */
static const struct gm_provider *const pool_providers[] = {
	&gm_prov_shmem_4k,
	&gm_prov_shmem_thp,
	&gm_prov_shmem_advise,
	&gm_prov_kvm_gmem,
	&gm_prov_shim,		/* optional: absent without its module */
	&gm_prov_hugetlb_2m,
	&gm_prov_hugetlb_1g,
};
/* Stores whose limit the split moves (shmem-4k, shmem-thp, shmem-advise,
 * kvm-gmem's staging store, the shim when present); each needs at least a
 * page, so room is kept for all of them. */
#define POOL_NDYNAMIC	5

static const struct gm_provider *pool_provider(uint32_t prov_id)
{
	for (size_t i = 0; i < ARRAY_SIZE(pool_providers); i++) {
		if (pool_providers[i]->id == prov_id)
			return pool_providers[i];
	}
	return NULL;
}

/* Whole pages covering bytes; saturates so that pages * POOL_PAGE fits. */
static uint64_t pages_up(uint64_t bytes)
{
	uint64_t pages = bytes / POOL_PAGE + (bytes % POOL_PAGE != 0);

	return pages > UINT64_MAX / POOL_PAGE ? UINT64_MAX / POOL_PAGE : pages;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * Overcommit: every instance keeps what it uses, and the free pages are
 * shared in proportion to what each still lacks for its declared sizes.
 * Shares are rounded down; the default provider takes the pages left over.
 */
static void split_overcommit(uint64_t free_pg, const bool present[GM_NPROV],
			     const uint64_t used_pg[GM_NPROV], const uint64_t need_pg[GM_NPROV],
			     uint64_t lack_total, uint64_t target_pg[GM_NPROV], uint64_t *spare)
{
	uint64_t given = 0;

	for (int i = 0; i < GM_NPROV; i++) {
		uint64_t share;

		if (!present[i])
			continue;
		/* free < lack_total here, so each share is below its lack. */
		share = (uint64_t)((unsigned __int128)free_pg * (need_pg[i] - used_pg[i]) /
				   lack_total);
		target_pg[i] = used_pg[i] + share;
		given += share;
	}
	*spare = free_pg - given;
}

/*
 * Spare pages are shared equally by the providers that hold files (and
 * the default one, which new files go to): faults and passthrough writes
 * never ask the daemon, so each store needs headroom of its own.  The
 * remainder of the division goes to the default provider.
 */
static void split_spare(uint64_t spare, uint32_t default_prov, const bool present[GM_NPROV],
			const uint64_t used[GM_NPROV], const uint64_t declared[GM_NPROV],
			uint64_t target_pg[GM_NPROV])
{
	bool active[GM_NPROV] = { false };
	uint64_t n = 0, share;

	for (int i = 0; i < GM_NPROV; i++) {
		active[i] = present[i] && (used[i] || declared[i] || (uint32_t)i == default_prov);
		n += active[i];
	}
	if (n == 0)
		return;
	share = spare / n;
	for (int i = 0; i < GM_NPROV; i++) {
		if (active[i])
			target_pg[i] += share;
	}
	if (default_prov < GM_NPROV && active[default_prov])
		target_pg[default_prov] += spare - share * n;
}

void gm_pool_split(uint64_t budget, uint32_t default_prov, const bool present[GM_NPROV],
		   const uint64_t used[GM_NPROV], const uint64_t declared[GM_NPROV],
		   uint64_t target[GM_NPROV])
{
	uint64_t used_pg[GM_NPROV] = { 0 }, need_pg[GM_NPROV] = { 0 }, target_pg[GM_NPROV] = { 0 };
	uint64_t budget_pg = budget / POOL_PAGE, sum_used = 0, sum_need = 0, spare = 0;

	/* In pages, sums of GM_NPROV figures cannot overflow 64 bits. */
	for (int i = 0; i < GM_NPROV; i++) {
		if (!present[i])
			continue;
		/* Never 0: a tmpfs with size=0 has no limit at all. */
		used_pg[i] = max_u64(pages_up(used[i]), 1);
		need_pg[i] = max_u64(used_pg[i], pages_up(declared[i]));
		sum_used += used_pg[i];
		sum_need += need_pg[i];
	}

	if (sum_need <= budget_pg) {
		memcpy(target_pg, need_pg, sizeof(target_pg));
		spare = budget_pg - sum_need;
	} else if (sum_used <= budget_pg) {
		split_overcommit(budget_pg - sum_used, present, used_pg, need_pg,
				 sum_need - sum_used, target_pg, &spare);
	} else {
		/* Someone changed the stores behind our back: no limit may go
		 * below use, so the budget cannot hold; the caller logs it. */
		memcpy(target_pg, used_pg, sizeof(target_pg));
	}
	split_spare(spare, default_prov, present, used, declared, target_pg);

	for (int i = 0; i < GM_NPROV; i++)
		target[i] = present[i] ? target_pg[i] * POOL_PAGE : 0;
}

/* Refresh used[] and the instances' limits from the kernel. */
static int pool_read_usage(struct gm_pool *pool, bool present[GM_NPROV],
			   uint64_t used[GM_NPROV], uint64_t *used_total)
{
	*used_total = 0;
	for (int i = 0; i < GM_NPROV; i++) {
		struct gm_prov_inst *pi = &pool->inst[i];
		int err;

		present[i] = pi->prov != NULL;
		used[i] = 0;
		if (!present[i])
			continue;
		err = pi->prov->usage(pi, &used[i], &pi->limit);
		if (err) {
			gm_err("pool: cannot read the use of %s: %s", pi->dir, strerror(-err));
			return err;
		}
		*used_total += used[i];
	}
	return 0;
}

static int pool_set_limit(struct gm_prov_inst *pi, uint64_t bytes)
{
	int err;

	err = pi->prov->set_limit(pi, bytes);
	if (err)
		return err;
	pi->limit = bytes;
	return 0;
}

/*
 * Move the limits to target[], all shrinks before any grow, so the sum of
 * the limits stays within the budget at every instant.  *raced tells that a
 * shrink was refused because the store grew past the target meanwhile.
 */
static int pool_apply(struct gm_pool *pool, const uint64_t target[GM_NPROV], bool *raced)
{
	int err;

	*raced = false;
	for (int i = 0; i < GM_NPROV; i++) {
		struct gm_prov_inst *pi = &pool->inst[i];

		if (!pi->prov || target[i] >= pi->limit)
			continue;
		err = pool_set_limit(pi, target[i]);
		if (err) {
			*raced = err == -EINVAL;
			return err;
		}
	}
	for (int i = 0; i < GM_NPROV; i++) {
		struct gm_prov_inst *pi = &pool->inst[i];

		if (!pi->prov || target[i] <= pi->limit)
			continue;
		err = pool_set_limit(pi, target[i]);
		if (err)
			return err;
	}
	return 0;
}

/* Fixed stores keep their limit; the others share what is left. */
static void pool_split_dynamic(struct gm_pool *pool, const bool present[GM_NPROV],
			       const uint64_t used[GM_NPROV], const uint64_t declared[GM_NPROV],
			       uint64_t target[GM_NPROV])
{
	bool dynamic[GM_NPROV];

	for (int i = 0; i < GM_NPROV; i++)
		dynamic[i] = present[i] && !pool->inst[i].prov->fixed_limit;
	gm_pool_split(pool->budget - pool->fixed, pool->default_prov, dynamic, used,
		      declared, target);
	for (int i = 0; i < GM_NPROV; i++) {
		if (present[i] && !dynamic[i])
			target[i] = pool->inst[i].limit;
	}
}

/* gm_pool_rebalance() with pool->lock held. */
static int __gm_pool_rebalance(struct gm_pool *pool, const uint64_t declared[GM_NPROV])
{
	uint64_t used[GM_NPROV], target[GM_NPROV], used_total;
	bool present[GM_NPROV], raced;
	int err = 0;

	for (int tries = 0; tries < POOL_REBALANCE_TRIES; tries++) {
		err = pool_read_usage(pool, present, used, &used_total);
		if (err)
			return err;
		if (used_total > pool->budget)
			gm_warn("pool: stores hold %" PRIu64 " bytes, over the budget of "
				"%" PRIu64 "; limits stay at their use", used_total, pool->budget);
		pool_split_dynamic(pool, present, used, declared, target);
		err = pool_apply(pool, target, &raced);
		if (!raced)
			return err;
		gm_dbg("pool: a store grew during rebalance, recomputing");
	}
	gm_warn("pool: rebalance gave up after %d tries: %s", POOL_REBALANCE_TRIES,
		strerror(-err));
	return err;
}

int gm_pool_rebalance(struct gm_pool *pool, const uint64_t declared[GM_NPROV])
{
	int err;

	pthread_mutex_lock(&pool->lock);
	err = __gm_pool_rebalance(pool, declared);
	pthread_mutex_unlock(&pool->lock);
	return err;
}

/* How many idle backing fds a store keeps (mem/backing.c): a small share
 * of the fd limit (raised to the hard one before the pool starts), so
 * that the fds the daemon keeps stay far below it however many files
 * there are. */
#define POOL_IDLE_FDS_MAX	128
#define POOL_IDLE_FDS_SHARE	32

static void pool_idle_init(struct gm_prov_inst *pi)
{
	struct rlimit rl = { 0 };

	pthread_mutex_init(&pi->idle_lock, NULL);
	CDS_INIT_LIST_HEAD(&pi->idle);
	pi->nidle = 0;
	pi->max_idle = 0;
	if (!pi->prov->reopen || getrlimit(RLIMIT_NOFILE, &rl))
		return;
	pi->max_idle = rl.rlim_cur / POOL_IDLE_FDS_SHARE;
	if (pi->max_idle > POOL_IDLE_FDS_MAX)
		pi->max_idle = POOL_IDLE_FDS_MAX;
}

/*
 * Attach with the smallest limit: a fresh store gets one page and a reused
 * one keeps at least what it holds; the split that follows shares out the
 * rest, so the budget is never exceeded on the way.
 */
static int pool_attach(struct gm_pool *pool, const struct gm_provider *prov,
		       const char *state_dir, uint64_t limit)
{
	struct gm_prov_inst *pi = &pool->inst[prov->id];
	bool reused = false;
	int err;

	if (asprintf(&pi->dir, "%s/%s", state_dir, prov->name) < 0) {
		pi->dir = NULL;
		return -ENOMEM;
	}
	pi->prov = prov;
	pool_idle_init(pi);
	err = prov->attach(pi, limit, &reused);
	if (err) {
		/* ENOENT of a hugetlb store: no pages; ENODEV of the shim:
		 * no module.  Both are logged where found, and not errors. */
		if (!(err == -ENOENT && prov->fixed_limit) && err != -ENODEV)
			gm_err("pool: cannot attach %s at %s: %s", prov->name, pi->dir,
			       strerror(-err));
		free(pi->dir);
		pi->dir = NULL;
		pi->prov = NULL;
		return err;
	}
	gm_info("pool: %s %s at %s", prov->name, reused ? "reused" : "mounted", pi->dir);
	return 0;
}

/* Record what this state directory owes the kernel's pool of prov's pages
 * (common/hugepages.h); a failure only loses the record, so it is logged. */
static void pool_note_owed(struct gm_pool *pool, const struct gm_provider *prov, long owed)
{
	int err = gm_hugepages_owed_set(pool->state_dir, prov->page_size, owed);

	if (err)
		gm_warn("pool: cannot record the %ld %s pages added to the kernel's pool in "
			"%s: %s (gmemctl discard will not give them back)", owed, prov->name,
			pool->state_dir, strerror(-err));
}

/* Give the kernel back the huge pages we added for prov_id; what cannot go
 * back stays in the state directory's record for a restart or discard. */
static void pool_give_back_pages(struct gm_pool *pool, uint32_t prov_id)
{
	const struct gm_provider *prov = pool_provider(prov_id);
	long added = pool->pages_added[prov_id], done = 0;

	if (!added)
		return;
	prov_hugetlb_pages_add(prov, -added, &done);
	if (-done == added)
		gm_info("pool: gave %ld %s pages back to the kernel", added, prov->name);
	else
		/* Pages that hold files of a store that stays mounted: 1 GiB
		 * pages cannot become surplus, so the kernel keeps them. */
		gm_warn("pool: gave %ld of the %ld %s pages added back to the kernel; the "
			"rest hold files (gmemctl discard frees them)", -done, added,
			prov->name);
	pool_note_owed(pool, prov, added + done);
	pool->pages_added[prov_id] = 0;
}

/* Pages an earlier daemon of this state directory added and could not
 * give back (it was killed, or they held files): ours to give back now. */
static int pool_take_over_owed(struct gm_pool *pool, const struct gm_provider *prov)
{
	long owed;
	int err = gm_hugepages_owed_get(pool->state_dir, prov->page_size, &owed);

	if (err) {
		gm_err("pool: %s: cannot read the record of %s pages added to the kernel's "
		       "pool: %s", pool->state_dir, prov->name, strerror(-err));
		return err;
	}
	if (owed)
		gm_info("pool: taking over %ld %s pages an earlier run added to the kernel's "
			"pool", owed, prov->name);
	pool->pages_added[prov->id] = owed;
	return 0;
}

/*
 * A hugetlb provider: bring what this state directory added to the
 * kernel's pool up to the pages asked for, then mount a store holding
 * exactly that (or adopt the store a previous run left).  Without pages and without a store the provider
 * is absent, which is not an error; a store that cannot be attached is.
 */
static int pool_attach_hugetlb(struct gm_pool *pool, const struct gm_provider *prov,
			       const char *state_dir, uint32_t asked)
{
	uint64_t room = pool->budget - pool->fixed - POOL_NDYNAMIC * POOL_PAGE;
	long got = 0, *added;
	int err;

	err = -EINVAL;
	if (asked && (uint64_t)asked > room / prov->page_size) {
		gm_err("pool: %" PRIu32 " %s pages are %" PRIu64 " MiB, more than the "
		       "pool's budget of %" PRIu64 " MiB leaves", asked, prov->name,
		       (uint64_t)asked * (prov->page_size >> 20), room >> 20);
		return err;
	}
	err = pool_take_over_owed(pool, prov);
	if (err)
		return err;
	/* Pages a killed run added are still in the kernel's pool (free, or
	 * in the store it left): only the difference is added. */
	added = &pool->pages_added[prov->id];
	if ((long)asked > *added) {
		err = prov_hugetlb_pages_add(prov, (long)asked - *added, &got);
		if (err)
			return err;
		*added += got;
		pool_note_owed(pool, prov, *added);
		if (*added < (long)asked)
			gm_warn("pool: the kernel's pool holds %ld of the %" PRIu32 " %s pages "
				"asked for (memory too fragmented or too small)", *added, asked,
				prov->name);
	}
	err = pool_attach(pool, prov, state_dir, (uint64_t)*added * prov->page_size);
	if (err == -ENOENT) {
		pool->absent[prov->id] = asked ?
			"the kernel could not give any of the huge pages asked for" :
			"no huge pages reserved for it (--hugepages)";
		gm_info("pool: %s unavailable: %s", prov->name, pool->absent[prov->id]);
		pool_give_back_pages(pool, prov->id);
		return 0;
	}
	if (err) {
		pool_give_back_pages(pool, prov->id);
		return err;
	}
	err = -EINVAL;
	if (pool->inst[prov->id].limit > room) {
		gm_err("pool: %s at %s holds %" PRIu64 " MiB, more than the pool's budget "
		       "leaves; start with a larger --pool-size", prov->name,
		       pool->inst[prov->id].dir, pool->inst[prov->id].limit >> 20);
		return err;	/* the caller detaches it and gives the pages back */
	}
	pool->fixed += pool->inst[prov->id].limit;
	return 0;
}

static void pool_detach_all(struct gm_pool *pool)
{
	for (int i = 0; i < GM_NPROV; i++) {
		struct gm_prov_inst *pi = &pool->inst[i];

		if (!pi->prov)
			continue;
		pi->prov->detach(pi);
		free(pi->dir);
		pi->dir = NULL;
		pi->prov = NULL;
	}
	for (uint32_t i = 0; i < GM_NPROV; i++)
		pool_give_back_pages(pool, i);
}

/* Attach every provider the pool serves; an optional one may be absent. */
static int pool_attach_all(struct gm_pool *pool, const char *state_dir,
			   const uint32_t hugepages[GM_NPROV])
{
	for (size_t i = 0; i < ARRAY_SIZE(pool_providers); i++) {
		const struct gm_provider *prov = pool_providers[i];
		int err;

		if (prov->fixed_limit)
			err = pool_attach_hugetlb(pool, prov, state_dir,
						  hugepages ? hugepages[prov->id] : 0);
		else
			err = pool_attach(pool, prov, state_dir, POOL_PAGE);
		if (err == -ENODEV && prov->id != pool->default_prov) {
			/* An optional provider, absent here (its attach logged why). */
			pool->absent[prov->id] = "its kernel module is not loaded, or another "
						 "daemon steers it";
			continue;
		}
		if (err)
			return err;
	}
	return 0;
}

int gm_pool_init(struct gm_pool *pool, const char *state_dir, uint64_t budget,
		 uint32_t default_prov, const uint32_t hugepages[GM_NPROV])
{
	static const uint64_t nothing_declared[GM_NPROV];
	int err;

	memset(pool, 0, sizeof(*pool));
	for (int i = 0; i < GM_NPROV; i++)
		pool->inst[i].dirfd = -1;
	pool->budget = budget & ~(POOL_PAGE - 1);
	pool->default_prov = default_prov;

	err = -EINVAL;
	if (!pool_provider(default_prov)) {
		gm_err("pool: default provider %" PRIu32 " is not one the pool serves",
		       default_prov);
		return err;
	}
	/* New files of a default policy served by a fixed store still need
	 * the spare space somewhere: THP is the largest page that can grow. */
	if (pool_provider(default_prov)->fixed_limit)
		pool->default_prov = GMEMFS_PROV_SHMEM_THP;
	if (pool->budget < POOL_NDYNAMIC * POOL_PAGE) {
		gm_err("pool: budget of %" PRIu64 " bytes is below one page per provider",
		       budget);
		return err;
	}
	pool->state_dir = strdup(state_dir);
	if (!pool->state_dir)
		return -ENOMEM;
	err = -pthread_mutex_init(&pool->lock, NULL);
	if (err)
		goto err_free;

	err = pool_attach_all(pool, state_dir, hugepages);
	if (err)
		goto err_detach;
	pthread_mutex_lock(&pool->lock);
	err = __gm_pool_rebalance(pool, nothing_declared);
	pthread_mutex_unlock(&pool->lock);
	if (err)
		goto err_detach;
	return 0;

err_detach:
	pool_detach_all(pool);
	pthread_mutex_destroy(&pool->lock);
err_free:
	free(pool->state_dir);
	pool->state_dir = NULL;
	return err;
}

void gm_pool_fini(struct gm_pool *pool)
{
	pool_detach_all(pool);
	pthread_mutex_destroy(&pool->lock);
	free(pool->state_dir);
	pool->state_dir = NULL;
}

int gm_pool_locked(struct gm_pool *pool, int (*fn)(struct gm_pool *pool, void *ctx),
		   void *ctx)
{
	int err;

	pthread_mutex_lock(&pool->lock);
	err = fn(pool, ctx);
	pthread_mutex_unlock(&pool->lock);
	return err;
}

int gm_pool_start(struct gm_pool *pool)
{
	for (uint32_t i = 0; i < GM_NPROV; i++) {
		struct gm_prov_inst *pi = &pool->inst[i];
		int err;

		if (!pi->prov || !pi->prov->start)
			continue;
		err = pi->prov->start(pi);
		if (err)
			return err;
	}
	return 0;
}

void gm_pool_on_freed(struct gm_pool *pool, void (*fn)(void *ctx), void *ctx)
{
	pool->freed_fn = fn;
	pool->freed_ctx = ctx;
}

void gm_pool_note_freed(struct gm_pool *pool)
{
	if (pool->freed_fn)
		pool->freed_fn(pool->freed_ctx);
}

struct gm_prov_inst *gm_pool_inst(struct gm_pool *pool, uint32_t prov_id)
{
	if (prov_id >= GM_NPROV || !pool->inst[prov_id].prov)
		return NULL;
	return &pool->inst[prov_id];
}

void gm_pool_mirror_atime(struct gm_pool *pool, const char *mnt_opts)
{
	unsigned long ms_atime = MS_STRICTATIME;

	if (gm_opts_has(mnt_opts, "noatime") || gm_opts_has(mnt_opts, "ro"))
		ms_atime = MS_NOATIME;
	else if (gm_opts_has(mnt_opts, "relatime"))
		ms_atime = MS_RELATIME;
	for (unsigned i = 0; i < GM_NPROV; i++) {
		if (pool->inst[i].prov && pool->inst[i].dirfd >= 0)
			prov_store_set_atime(&pool->inst[i], ms_atime);
	}
}

int gm_pool_usage(struct gm_pool *pool, struct gm_pool_usage *u)
{
	uint64_t used[GM_NPROV], used_total;
	bool present[GM_NPROV];
	int err;

	memset(u, 0, sizeof(*u));
	pthread_mutex_lock(&pool->lock);
	err = pool_read_usage(pool, present, used, &used_total);
	for (int i = 0; !err && i < GM_NPROV; i++) {
		u->prov[i].used = used[i];
		u->prov[i].limit = present[i] ? pool->inst[i].limit : 0;
		u->prov[i].fixed = present[i] && pool->inst[i].prov->fixed_limit;
	}
	pthread_mutex_unlock(&pool->lock);
	if (err)
		return err;
	u->budget = pool->budget;
	u->used = used_total;
	u->free = used_total < pool->budget ? pool->budget - used_total : 0;
	return 0;
}

int gm_pool_secret(struct gm_pool *pool, uint64_t *bytes, uint64_t *free_bytes)
{
	uint64_t pages, free_pages;
	int err;

	*bytes = *free_bytes = 0;
	if (!gm_pool_inst(pool, GMEMFS_PROV_SHIM))
		return -ENODEV;
	err = gm_shim_carveout(&pages, &free_pages);
	if (err)
		return err;
	*bytes = pages * POOL_PAGE;
	*free_bytes = free_pages * POOL_PAGE;
	return 0;
}

bool gm_pool_low(const struct gm_pool_usage *u, uint32_t prov_id)
{
	if (prov_id >= GM_NPROV || u->prov[prov_id].fixed)
		return false;
	return u->free && gm_pool_room(u, prov_id) * 8 <= u->free;	/* a full pool has nothing to give */
}
