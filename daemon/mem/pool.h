/*
 * The page pool: one budget (bytes) shared by every file of a mount, split
 * among the provider instances.  The kernel enforces it: the sum of the
 * instances' tmpfs size= limits never exceeds the budget, so a write, fault
 * or fallocate past it fails in the kernel (ENOSPC, or SIGBUS for a fault)
 * without the daemon being asked and without touching stored pages.
 *
 * Rebalancing moves free space between instances: each instance gets what
 * it uses plus room for the sizes its files declared (ftruncate/fallocate),
 * and the remaining free space is shared equally by the instances holding
 * files and the default one (remainder to the default).  When declared
 * sizes overcommit the budget, free space is shared in proportion to what
 * each instance still lacks.  Limits are shrunk before any is grown, so the
 * sum stays within the budget at every instant.
 *
 * Huge pages: a hugetlb store's size is fixed when it is mounted (the
 * pages --hugepages added to the kernel's pool, or what an adopted store
 * already has), so its limit is carved out of the budget and the rest is
 * split among the other stores.  Providers that could not be attached are
 * absent, with a reason (absent[]), which is not an error.
 *
 * Locking: pool->lock serializes rebalancing and limit changes and guards
 * inst[].limit; lock order: meta/inode.h.
 * Not for: per-file bookkeeping (the caller passes declared sizes).
 */
#ifndef GM_POOL_H
#define GM_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "prov/prov.h"

#define GM_NPROV 8	/* indexed by enum gmemfs_provider */

struct gm_pool {
	pthread_mutex_t lock;
	uint64_t budget;		/* bytes, page-aligned; immutable */
	uint64_t fixed;			/* sum of fixed limits (hugetlb); immutable */
	uint32_t default_prov;		/* enum gmemfs_provider; immutable */
	struct gm_prov_inst inst[GM_NPROV];	/* .prov NULL if absent */
	const char *absent[GM_NPROV];	/* why a known provider is absent; immutable */
	char *state_dir;		/* immutable */
	long pages_added[GM_NPROV];	/* huge pages we (or an earlier run of this
					 * state dir) added to the kernel's pool,
					 * given back by fini; immutable */
	/* Told when memory may have gone back (a file's backing removed), so
	 * room can move before the next split would notice: the rebalancer's
	 * kick.  Set once, before any request runs (before the FUSE loop and
	 * the control socket start); NULL when nobody listens. */
	void (*freed_fn)(void *ctx);
	void *freed_ctx;
};

struct gm_pool_usage {
	uint64_t budget;
	uint64_t used;			/* sum over instances */
	uint64_t free;			/* budget - used */
	struct {
		uint64_t used;
		uint64_t limit;
		bool fixed;		/* a hugetlb store: no split gives it more */
	} prov[GM_NPROV];
};

/* Attach every provider under state_dir and split the budget among them
 * (gm_pool_split with nothing declared yet).  hugepages[prov_id] (or NULL)
 * is how many huge pages to add to the kernel's pool for each hugetlb
 * provider; they must fit in the budget.  0 or -errno (logged). */
int gm_pool_init(struct gm_pool *pool, const char *state_dir, uint64_t budget,
		 uint32_t default_prov, const uint32_t hugepages[GM_NPROV]);
/* Detach the instances (their stores and the files in them stay) and give
 * the kernel back exactly the huge pages init added. */
void gm_pool_fini(struct gm_pool *pool);

/* Run fn with pool->lock held: a provider changing its own accounting
 * (kvm-gmem reserving a guest_memfd) must not race a rebalance. */
int gm_pool_locked(struct gm_pool *pool, int (*fn)(struct gm_pool *pool, void *ctx),
		   void *ctx);

/* Start the providers' threads (prov.h: start), after the daemon's fork.
 * 0 or the first provider's -errno. */
int gm_pool_start(struct gm_pool *pool);
/* Who to tell of freed memory (fn NULL: nobody); see freed_fn. */
void gm_pool_on_freed(struct gm_pool *pool, void (*fn)(void *ctx), void *ctx);
/* Memory may have gone back to the pool: tell the listener, if any.  Any
 * thread; never blocks on a split. */
void gm_pool_note_freed(struct gm_pool *pool);

/* The instance serving a provider id, or NULL. */
struct gm_prov_inst *gm_pool_inst(struct gm_pool *pool, uint32_t prov_id);

/* Re-split the budget given the bytes each provider's files declare
 * (declared[prov_id], sum of file sizes).  0 or -errno. */
int gm_pool_rebalance(struct gm_pool *pool, const uint64_t declared[GM_NPROV]);

/* Pure arithmetic of rebalancing, exposed for unit tests: given budget,
 * used[] and declared[] for the present providers (present[i]), compute
 * target[] limits (page-aligned, target[i] >= used[i], sum <= budget). */
void gm_pool_split(uint64_t budget, uint32_t default_prov, const bool present[GM_NPROV],
		   const uint64_t used[GM_NPROV], const uint64_t declared[GM_NPROV],
		   uint64_t target[GM_NPROV]);

int gm_pool_usage(struct gm_pool *pool, struct gm_pool_usage *u);

/* The shim module's carve-out, where files of policy shim-secret take
 * their pages (bytes), and how much of it no file holds.  Its pages count
 * in the shim provider's use like any shim page; these figures say how
 * many more secret ones there can be.  0 with both 0 when the shim is
 * attached without a carve-out; -ENODEV without the shim.  A netlink
 * round trip: not for statfs. */
int gm_pool_secret(struct gm_pool *pool, uint64_t *bytes, uint64_t *free_bytes);

/* Mirror the atime rule of the FUSE mount, given by its per-mount options
 * (mountinfo's "rw,nosuid,nodev,noatime"; a read-only mount counts as
 * noatime), on every store.  Before the first request; a failure is logged
 * and leaves that store as it was. */
void gm_pool_mirror_atime(struct gm_pool *pool, const char *mnt_opts);

/* A provider's headroom in the figures u: its limit less its use. */
static inline uint64_t gm_pool_room(const struct gm_pool_usage *u, uint32_t prov_id)
{
	return u->prov[prov_id].limit > u->prov[prov_id].used ?
	       u->prov[prov_id].limit - u->prov[prov_id].used : 0;
}

/* In the figures u, is a provider's headroom small next to the pool's free
 * space (an eighth or less)?  Then a split would give it more (never for a
 * fixed store: nothing would). */
bool gm_pool_low(const struct gm_pool_usage *u, uint32_t prov_id);

#endif
