/*
 * The rebalancer thread (see rebalancer.h).  It depends on backing.c (the
 * declared sizes and the split); backing.c reaches it only through the
 * pool's freed hook (gm_pool_on_freed), which start installs.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/thread.h"
#include "mem/backing.h"
#include "mem/rebalancer.h"

static void gm_rebalancer_baseline(struct gm_rebalancer *rb, const struct gm_pool_usage *u)
{
	for (uint32_t i = 0; i < GM_NPROV; i++) {
		rb->base_used[i] = u->prov[i].used;
		rb->base_room[i] = gm_pool_room(u, i);
	}
}

/* Has some store moved by a quarter of its headroom since the last split? */
static bool gm_rebalancer_due(struct gm_rebalancer *rb, const struct gm_pool_usage *u)
{
	for (int i = 0; i < GM_NPROV; i++) {
		uint64_t now = u->prov[i].used, then = rb->base_used[i];
		uint64_t moved = now > then ? now - then : then - now;

		if (moved && moved * 4 >= rb->base_room[i])
			return true;
	}
	return false;
}

static bool gm_rebalancer_any_low(struct gm_pool *pool, const struct gm_pool_usage *u)
{
	for (uint32_t i = 0; i < GM_NPROV; i++) {
		if (pool->inst[i].prov && u->prov[i].used && gm_pool_low(u, i))
			return true;
	}
	return false;
}

static bool gm_rebalancer_wait(struct gm_rebalancer *rb, bool *kicked)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (rb->hurry ? GM_REBALANCE_HURRY_MS : GM_REBALANCE_PERIOD_MS) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&rb->lock);
	while (!rb->stop && !rb->kicked &&
	       pthread_cond_timedwait(&rb->cond, &rb->lock, &until) != ETIMEDOUT)
		;
	stop = rb->stop;
	*kicked = rb->kicked;
	rb->kicked = false;
	pthread_mutex_unlock(&rb->lock);
	return !stop;
}

static void *gm_rebalancer_main(void *arg)
{
	struct gm_rebalancer *rb = arg;
	struct gm_pool *pool = &rb->fs->pool;
	struct gm_pool_usage u;
	bool kicked;

	if (gm_pool_usage(pool, &u) == 0)
		gm_rebalancer_baseline(rb, &u);
	while (gm_rebalancer_wait(rb, &kicked)) {
		if (gm_pool_usage(pool, &u))
			continue;
		rb->hurry = gm_rebalancer_any_low(pool, &u);
		if (!kicked && !gm_rebalancer_due(rb, &u))
			continue;
		/* A failed split (a store grew meanwhile) is retried next tick. */
		gm_backing_rebalance(rb->fs, NULL, 0);
		if (gm_pool_usage(pool, &u) == 0)
			gm_rebalancer_baseline(rb, &u);
	}
	return NULL;
}

/* The pool's freed hook: an eviction gave memory back.  Installed at
 * start and left in place: after a stop, the kick finds rb->stop set and
 * does nothing (control connections may still evict until they close). */
static void gm_rebalancer_freed(void *ctx)
{
	struct gm_rebalancer *rb = ctx;

	pthread_mutex_lock(&rb->lock);
	if (!rb->stop) {
		rb->kicked = true;
		pthread_cond_signal(&rb->cond);
	}
	pthread_mutex_unlock(&rb->lock);
}

int gm_rebalancer_start(struct gm_rebalancer *rb, struct gm_fs *fs)
{
	pthread_condattr_t ca;
	int err;

	rb->fs = fs;
	rb->stop = rb->kicked = false;
	pthread_mutex_init(&rb->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rb->cond, &ca);
	pthread_condattr_destroy(&ca);
	err = gm_thread_start(&rb->thread, gm_rebalancer_main, rb);
	if (err) {
		gm_err("pool: cannot start the rebalancer thread: %s", strerror(-err));
		return err;
	}
	rb->running = true;
	gm_pool_on_freed(&fs->pool, gm_rebalancer_freed, rb);
	return 0;
}

void gm_rebalancer_stop(struct gm_rebalancer *rb)
{
	if (!rb->running)
		return;
	pthread_mutex_lock(&rb->lock);
	rb->stop = true;
	pthread_cond_signal(&rb->cond);
	pthread_mutex_unlock(&rb->lock);
	pthread_join(rb->thread, NULL);
	rb->running = false;
}
