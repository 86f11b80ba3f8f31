/*
 * gm-lazy's VMM threads for t-lazy-crash.sh: host threads that keep
 * faulting pages of a lazy restore while the test kills gmemfsd and
 * starts it again, and the stall they saw (see gm-lazy-crash.c).
 */
#ifndef GM_LAZY_CRASH_H
#define GM_LAZY_CRASH_H

#include <stdint.h>

/* Start the touchers over pages [from, to) of host, one page per unit of
 * unit_pages, each thread every pace_us.  0 or -errno. */
int gm_crash_touch_start(volatile uint8_t *host, uint64_t from, uint64_t to,
			 uint64_t unit_pages, unsigned pace_us);
/* Stop and join them; print the stall line: the faults that waited more
 * than 10 ms (across the daemon's death), their count, p50 and max. */
void gm_crash_touch_stop(void);

#endif
