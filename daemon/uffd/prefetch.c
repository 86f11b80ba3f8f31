/*
 * A lazy-restore session's prefetch thread: places the units of the
 * snapshot's stored working set (layer 0's, the order a previous lazy
 * restore faulted them) in that order, in the background, so the VMM finds
 * them there instead of faulting.  Faults come first: between units it
 * waits while the fault thread has faults queued, and it only takes units
 * nobody placed yet (ABSENT -> CLAIMED), so the two never place one twice.
 * In shmem MINOR mode it writes into the file's backing (the page cache);
 * the VMM's first touch is then a MINOR fault, answered with
 * UFFDIO_CONTINUE.
 *
 * The unit's states are uffd/unit.c's.
 *
 * Not for: faults (serve.c), placing bytes (place.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "uffd/session.h"

#define GM_PREFETCH_RETRIES	200	/* EAGAIN retries of one unit */

/* Yield to the fault thread while it has faults to serve. */
static bool gm_prefetch_yield(struct gm_uffd_sess *s)
{
	struct timespec ts = { .tv_nsec = 20000 };

	while (atomic_load(&s->fault_pending) && !atomic_load(&s->ending))
		nanosleep(&ts, NULL);
	return !atomic_load(&s->ending);
}

/* Unit u, if nobody has it yet: 0, or -errno when prefetching must stop. */
static int gm_prefetch_unit(struct gm_uffd_sess *s, struct gm_snap_reader *rd, uint64_t u,
			    void *buf)
{
	/* In MINOR mode the VMM still maps each page: the unit is placed
	 * for the prefetcher's purposes once in the page cache. */
	struct gm_uffd_placer pl = { .rd = rd, .buf = buf, .via_backing = s->backing_fd >= 0 };
	struct timespec pause = { .tv_nsec = 200000 };
	int err = -EAGAIN;

	for (unsigned tries = 0; err == -EAGAIN && tries < GM_PREFETCH_RETRIES; tries++) {
		if (!gm_prefetch_yield(s))
			return -ECANCELED;
		err = gm_uffd_unit_place(s, u, gm_uffd_place_with, &pl);
		if (err == -EALREADY)
			return 0;	/* faulted, removed or placed already */
		if (!err) {
			uint64_t len = s->snap.mem_size - u * s->unit;

			atomic_fetch_add(&s->prefetched, len < s->unit ? len : s->unit);
		}
		if (err == -EAGAIN)
			nanosleep(&pause, NULL);
	}
	/* A corrupt unit is the fault thread's to report, at the fault. */
	return err == -EIO ? 0 : err;
}

static void gm_prefetch_run(struct gm_uffd_sess *s, struct gm_snap_reader *rd, void *buf)
{
	const struct gm_snap_layer *l = &s->snap.layers[0];
	uint64_t n = 0;
	int err = 0;

	for (uint64_t i = 0; i < l->hdr.nr_ws && !err; i++) {
		uint64_t off = l->ws[i].offset;

		if (off >= s->snap.mem_size)
			continue;
		err = gm_prefetch_unit(s, rd, off / s->unit, buf);
		n++;
	}
	/* Ask mode: then the rest, so the file ends up whole. */
	for (uint64_t u = 0; s->ask && u < s->nunits && !err; u++)
		err = gm_prefetch_unit(s, rd, u, buf);
	if (err && err != -ECANCELED && err != -ESRCH)
		gm_warn("%s: prefetching stopped: %s", s->name, strerror(-err));
	gm_info("%s: prefetcher done after %llu of %llu working-set entries, %llu bytes placed",
		s->name, (unsigned long long)n, (unsigned long long)l->hdr.nr_ws,
		(unsigned long long)atomic_load(&s->prefetched));
}

void *gm_uffd_prefetch_main(void *arg)
{
	struct gm_uffd_sess *s = arg;
	struct gm_snap_reader rd;
	void *buf = NULL;

	if (gm_snap_reader_init(&rd, &s->snap)) {
		gm_warn("%s: no memory to prefetch", s->name);
		return NULL;
	}
	if (posix_memalign(&buf, 4096, s->unit) == 0)
		gm_prefetch_run(s, &rd, buf);
	free(buf);
	gm_snap_reader_fini(&rd);
	if (s->ask)
		gm_ask_kick(s->ask);	/* the fault thread sees it is complete */
	return NULL;
}
