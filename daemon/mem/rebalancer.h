/*
 * The rebalancer: a thread that moves pool headroom to the stores that
 * consume it.  Page faults and passthrough writes grow a store without the
 * daemon hearing of it, so the thread watches each store's use and
 * re-splits the budget when a store has eaten a quarter of its headroom,
 * or given back as much (a file freed), or when kicked (an eviction, told
 * through the pool's freed hook).
 * Not for: the split itself (pool.c) or declared sizes (backing.c).
 * Locking: rb->lock is a leaf in the one lock order (meta/inode.h).
 */
#ifndef GM_REBALANCER_H
#define GM_REBALANCER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/pool.h"

struct gm_fs;

struct gm_rebalancer {
	struct gm_fs *fs;
	pthread_t thread;
	bool running;			/* thread started; main thread only */
	pthread_mutex_t lock;		/* guards stop and kicked */
	pthread_cond_t cond;
	bool stop;			/* under lock */
	bool kicked;			/* under lock */
	bool hurry;			/* thread-private: tick fast */
	/* Thread-private: each store's use and headroom after the last split. */
	uint64_t base_used[GM_NPROV];
	uint64_t base_room[GM_NPROV];
};

/* The tick; shorter while some store is low on headroom, since a store
 * filling at memory speed eats megabytes per millisecond. */
#define GM_REBALANCE_PERIOD_MS 100
#define GM_REBALANCE_HURRY_MS 10

int gm_rebalancer_start(struct gm_rebalancer *rb, struct gm_fs *fs);
void gm_rebalancer_stop(struct gm_rebalancer *rb);

#endif
