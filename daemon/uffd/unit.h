/*
 * The state of each unit of a lazy-restore session's memory, and the one
 * place that changes it.  A unit is the snapshot chunk (or a region's
 * page, if larger) the fault and prefetch threads place as a whole.
 *
 *               claim                 release(0 or -EEXIST)
 *     ABSENT ----------> CLAIMED ------------------------> PLACED
 *       ^                 |   |
 *       |                 |   |   release(-EIO: a checksum failed)
 *       +-----------------+   +--------------------------> CORRUPT
 *         release(-EAGAIN or any other -errno:
 *         nothing placed for good, try again later)
 *
 *     any state -- discard (the VMM removed all of it) --> REMOVED
 *
 * Only the thread that claimed a unit releases it, and only through
 * gm_uffd_unit_place() or gm_uffd_units_place() (a run of units placed at
 * once, all ending in the same state), whose one switch maps a placing's
 * result to the state it ends in.  PLACED, CORRUPT and REMOVED are final (a discard
 * still turns the first two into REMOVED: the VMM wants zeros there).
 *
 * What a fault in each state gets (uffd/serve.c):
 *   ABSENT   the fault thread claims and places the unit.
 *   CLAIMED  the prefetcher has it: wait for its release, then as below.
 *   PLACED   the page alone, from the snapshot (the VMM may have dropped
 *            it since the unit went in); in MINOR mode the prefetcher's
 *            PLACED means "in the page cache", mapped by UFFDIO_CONTINUE.
 *   REMOVED  a zero page.
 *   CORRUPT  never the snapshot's bytes, never zeros made up for them:
 *            the page is poisoned (the VMM gets SIGBUS there) or, if
 *            the uffd cannot poison, the VMM is killed; a page the VMM
 *            discarded still gets zeros.  When the daemon stops, the
 *            rest of a corrupt unit is poisoned the same way.
 *
 * A unit counts towards the session's COMPLETE once, on reaching PLACED
 * or REMOVED.  A CORRUPT unit never does: its pages are not there, and
 * faults on them still come (and fail loudly).
 *
 * Not for: reading or placing bytes (uffd/place.c), which unit to place
 * when (uffd/serve.c, uffd/prefetch.c).
 */
#ifndef GM_UFFD_UNIT_H
#define GM_UFFD_UNIT_H

#include <stdint.h>

struct gm_uffd_sess;

/* Stored per unit in gm_uffd_sess.units (one byte, changed by CAS). */
enum gm_uffd_unit {
	GM_UNIT_ABSENT = 0,	/* not placed: the first fault or the prefetcher takes it */
	GM_UNIT_CLAIMED,	/* a thread is reading and placing it */
	GM_UNIT_PLACED,		/* its bytes went in (pages may have been removed since) */
	GM_UNIT_REMOVED,	/* the VMM discarded all of it: zero from now on */
	GM_UNIT_CORRUPT,	/* its snapshot bytes failed their checksum: never placed */
};

/* How to place unit u (claimed by the caller): 0, or -errno as
 * gm_uffd_place_unit() returns them. */
typedef int (*gm_uffd_place_fn)(struct gm_uffd_sess *s, uint64_t u, void *ctx);

/* Unit u's state now (any thread; it may change right after). */
enum gm_uffd_unit gm_uffd_unit_state(struct gm_uffd_sess *s, uint64_t u);
/* Claim unit u if it is ABSENT, place it with place(s, u, ctx) and
 * release it into the state for place's result (see the table above).
 * -EALREADY when u was not ABSENT (nothing done); else place's result. */
int gm_uffd_unit_place(struct gm_uffd_sess *s, uint64_t u, gm_uffd_place_fn place, void *ctx);
/* How to place the k units from u0 on (claimed by the caller) at once. */
typedef int (*gm_uffd_place_run_fn)(struct gm_uffd_sess *s, uint64_t u0, uint64_t k, void *ctx);
/* Claim the units from u0 on while they are ABSENT, at most n, place
 * them with one place(s, u0, k, ctx) and release them all into the state
 * for its result: so a placing that fails for one unit must fail with a
 * result that leaves every unit of the run ABSENT (anything but 0,
 * -EEXIST and -EIO), and the caller places them one by one.  *claimed
 * gets k; -EALREADY when u0 was not ABSENT (nothing done). */
int gm_uffd_units_place(struct gm_uffd_sess *s, uint64_t u0, uint64_t n, uint64_t *claimed,
			gm_uffd_place_run_fn place, void *ctx);
/* A resumed session's unit u was placed before the restart: PLACED. */
void gm_uffd_unit_mark_placed(struct gm_uffd_sess *s, uint64_t u);
/* The VMM discarded all of unit u: REMOVED, whatever it was. */
void gm_uffd_unit_discard(struct gm_uffd_sess *s, uint64_t u);

#endif
