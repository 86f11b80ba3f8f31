/*
 * gm-lazy's touchers (see gm-lazy-crash.h): GM_CRASH_THREADS host threads
 * of the restoring VMM read one byte of each unit of a range, each
 * timing its read, so that some of them are waiting in a fault while
 * gmemfsd dies and comes back.  A read that takes more than 10 ms waited
 * for the daemon (a served fault takes tens of microseconds): those are
 * the stall a faulting VMM sees across kill -9 and a restart.  The bytes
 * read are checked by the guest afterwards, not here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "gm-lazy-crash.h"

#define GM_CRASH_THREADS	4
#define GM_CRASH_STALL_NS	10000000ULL	/* more than this waited for the daemon */

static struct {
	volatile uint8_t *host;
	uint64_t from, to, unit;
	unsigned pace_us;
	atomic_bool stop;
	pthread_t t[GM_CRASH_THREADS];
	uint64_t stall_ns[GM_CRASH_THREADS * 64];	/* under lock */
	unsigned nstall;
	uint64_t touched;
	pthread_mutex_t lock;
} gm_crash = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *gm_crash_touch_main(void *arg)
{
	uint64_t i = (uintptr_t)arg, step = GM_CRASH_THREADS * gm_crash.unit;
	struct timespec pace = { .tv_nsec = gm_crash.pace_us * 1000L };

	for (uint64_t p = gm_crash.from + i * gm_crash.unit; p < gm_crash.to; p += step) {
		uint64_t t0;

		if (atomic_load(&gm_crash.stop))
			break;
		t0 = gm_mono_ns();
		(void)gm_crash.host[p * 4096];
		t0 = gm_mono_ns() - t0;
		pthread_mutex_lock(&gm_crash.lock);
		gm_crash.touched++;
		if (t0 > GM_CRASH_STALL_NS && gm_crash.nstall < GM_CRASH_THREADS * 64)
			gm_crash.stall_ns[gm_crash.nstall++] = t0;
		pthread_mutex_unlock(&gm_crash.lock);
		nanosleep(&pace, NULL);
	}
	return NULL;
}

int gm_crash_touch_start(volatile uint8_t *host, uint64_t from, uint64_t to,
			 uint64_t unit_pages, unsigned pace_us)
{
	gm_crash.host = host;
	gm_crash.from = from;
	gm_crash.to = to;
	gm_crash.unit = unit_pages ? unit_pages : 1;
	gm_crash.pace_us = pace_us;
	for (uintptr_t i = 0; i < GM_CRASH_THREADS; i++) {
		int err = pthread_create(&gm_crash.t[i], NULL, gm_crash_touch_main, (void *)i);

		if (err)
			return -err;
	}
	return 0;
}

static int gm_crash_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void gm_crash_touch_stop(void)
{
	unsigned n;

	atomic_store(&gm_crash.stop, true);
	for (unsigned i = 0; i < GM_CRASH_THREADS; i++)
		pthread_join(gm_crash.t[i], NULL);
	n = gm_crash.nstall;
	qsort(gm_crash.stall_ns, n, sizeof(gm_crash.stall_ns[0]), gm_crash_cmp);
	printf("# stall across the daemon's kill -9 and restart: %u of %llu faults waited, "
	       "p50 %.1f ms, max %.1f ms\n", n, (unsigned long long)gm_crash.touched,
	       n ? gm_crash.stall_ns[n / 2] / 1e6 : 0.0, n ? gm_crash.stall_ns[n - 1] / 1e6 : 0.0);
	printf("# stall faults=%u p50_ms=%.1f max_ms=%.1f\n", n,
	       n ? gm_crash.stall_ns[n / 2] / 1e6 : 0.0, n ? gm_crash.stall_ns[n - 1] / 1e6 : 0.0);
}
