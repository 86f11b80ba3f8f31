// SPDX-License-Identifier: GPL-2.0
/*
 * The page limit: how many base pages a daemon's files may hold, set by
 * the daemon (SET_LIMIT) to its pool's share for the shim.  Each owner (a
 * state directory's token, owner.c) has its own budget, as each gmemfsd
 * has its own pool, and the files of daemons without a token share one;
 * files of a stopped state directory the module keeps count in their own
 * budget, not in the running daemon's.  Every allocation is charged to its
 * file's budget before the folio is allocated and fails with -ENOSPC past
 * the limit, so write and fallocate get ENOSPC and a fault SIGBUS, as on a
 * tmpfs with size=: out of budget is an error, never an OOM kill.  Pages
 * already held are never touched, whatever the limit becomes; a limit
 * below the pages held only refuses new ones.
 *
 * Pages are uncharged as they leave the page cache (->free_folio), so
 * punch, truncate and the file's eviction all uncharge through one place;
 * the folio's private field names the budget there, as the page cache no
 * longer does.  A limit outlives the daemon that set it: a VMM may keep
 * shim files after the daemon is gone, and they stay bounded.
 *
 * Changing the limit is one word written: the pool's rebalancer may set it
 * every 10-100 ms.
 *
 * Not for: the size of one file (io.c) or the pool's arithmetic (gmemfsd).
 */
#include <linux/module.h>

#include "shim.h"

/* Base pages in every shim file's page cache, whatever its budget. */
static atomic_long_t shim_pages_held = ATOMIC_LONG_INIT(0);
/* The files of daemons without a token. */
static struct shim_budget shim_anon_budget = {
	.held = ATOMIC_LONG_INIT(0),
	.limit = ULONG_MAX,
};

static struct shim_budget *shim_budget_of(struct shim_owner *o)
{
	return o ? &o->budget : &shim_anon_budget;
}

/* Both read-only in /sys/module/gmemfs/parameters, for tests and admins. */
static int shim_param_get_held(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(&shim_pages_held));
}

/* The registered daemon's limit (with none: the files without a token's). */
static int shim_param_get_limit(char *buf, const struct kernel_param *kp)
{
	struct shim_owner *o = shim_daemon_owner();
	unsigned long limit = READ_ONCE(shim_budget_of(o)->limit);

	shim_owner_put(o);
	return limit == ULONG_MAX ? sysfs_emit(buf, "none\n") :
				    sysfs_emit(buf, "%lu\n", limit);
}

static const struct kernel_param_ops shim_param_held_ops = {
	.get = shim_param_get_held,
};

static const struct kernel_param_ops shim_param_limit_ops = {
	.get = shim_param_get_limit,
};

module_param_cb(pages_held, &shim_param_held_ops, NULL, 0444);
MODULE_PARM_DESC(pages_held, "base pages held by all shim files");
module_param_cb(pages_limit, &shim_param_limit_ops, NULL, 0444);
MODULE_PARM_DESC(pages_limit, "the registered daemon's limit on the pages its files hold (SET_LIMIT)");

/* Charge @nr base pages to @o's budget: 0, or -ENOSPC past its limit. */
int shim_pages_charge(struct shim_owner *o, unsigned long nr)
{
	struct shim_budget *b = shim_budget_of(o);
	unsigned long limit = READ_ONCE(b->limit);
	long held = atomic_long_read(&b->held);

	/* A loop, not add-then-undo: two racing charges never both fail. */
	do {
		if (nr > limit || (unsigned long)held > limit - nr)
			return -ENOSPC;
	} while (!atomic_long_try_cmpxchg(&b->held, &held, held + nr));
	atomic_long_add(nr, &shim_pages_held);
	return 0;
}

void shim_pages_uncharge(struct shim_owner *o, unsigned long nr)
{
	atomic_long_sub(nr, &shim_budget_of(o)->held);
	atomic_long_sub(nr, &shim_pages_held);
}

void shim_pages_set_limit(struct shim_owner *o, u64 pages)
{
	WRITE_ONCE(shim_budget_of(o)->limit, pages >= ULONG_MAX ? ULONG_MAX : pages);
}

/* At unload every file is gone, so every page must have been uncharged. */
void shim_pages_exit(void)
{
	WARN(atomic_long_read(&shim_pages_held),
	     "gmemfs: %ld pages still charged at unload\n",
	     atomic_long_read(&shim_pages_held));
}
