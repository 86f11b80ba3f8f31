// SPDX-License-Identifier: GPL-2.0
/*
 * The page limit: how many base pages all shim files together may hold,
 * set by the daemon (SET_LIMIT) to its pool's share for the shim.  Every
 * allocation is charged here before the folio is allocated and fails with
 * -ENOSPC past the limit, so write and fallocate get ENOSPC and a fault
 * SIGBUS, as on a tmpfs with size=: out of budget is an error, never an
 * OOM kill.  Pages already held are never touched, whatever the limit
 * becomes; a limit below the pages held only refuses new ones.
 *
 * Pages are uncharged as they leave the page cache (->free_folio), so
 * punch, truncate and the file's eviction all uncharge through one place.
 * The limit outlives the daemon that set it: a VMM may keep shim files
 * open after the daemon is gone, and they stay bounded.
 *
 * Changing the limit is one word written: the pool's rebalancer may set it
 * every 10-100 ms.
 *
 * Not for: the size of one file (io.c) or the pool's arithmetic (gmemfsd).
 */
#include <linux/module.h>

#include "shim.h"

/* Base pages in every shim file's page cache; charged by compare-and-swap. */
static atomic_long_t shim_pages_held = ATOMIC_LONG_INIT(0);
/* The limit in base pages; one word, READ_ONCE/WRITE_ONCE, no lock. */
static unsigned long shim_pages_limit = ULONG_MAX;

/* Both read-only in /sys/module/gmemfs/parameters, for tests and admins. */
static int shim_param_get_held(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(&shim_pages_held));
}

static int shim_param_get_limit(char *buf, const struct kernel_param *kp)
{
	unsigned long limit = READ_ONCE(shim_pages_limit);

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
MODULE_PARM_DESC(pages_limit, "the daemon's limit on pages_held (SET_LIMIT)");

/* Charge @nr base pages: 0, or -ENOSPC if they would pass the limit. */
int shim_pages_charge(unsigned long nr)
{
	unsigned long limit = READ_ONCE(shim_pages_limit);
	long held = atomic_long_read(&shim_pages_held);

	/* A loop, not add-then-undo: two racing charges never both fail. */
	do {
		if (nr > limit || (unsigned long)held > limit - nr)
			return -ENOSPC;
	} while (!atomic_long_try_cmpxchg(&shim_pages_held, &held, held + nr));
	return 0;
}

void shim_pages_uncharge(unsigned long nr)
{
	atomic_long_sub(nr, &shim_pages_held);
}

void shim_pages_set_limit(u64 pages)
{
	WRITE_ONCE(shim_pages_limit, pages >= ULONG_MAX ? ULONG_MAX : pages);
}

/* At unload every file is gone, so every page must have been uncharged. */
void shim_pages_exit(void)
{
	WARN(atomic_long_read(&shim_pages_held),
	     "gmemfs: %ld pages still charged at unload\n",
	     atomic_long_read(&shim_pages_held));
}
