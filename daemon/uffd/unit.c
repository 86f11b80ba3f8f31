/*
 * A lazy-restore unit's state machine (see unit.h): claim, release into
 * the one state each outcome of placing it deserves, discard, and the
 * count of units done that makes a session COMPLETE.
 *
 * Not for: reading or placing bytes (uffd/place.c).
 */
#include <errno.h>

#include "gmemfs_ctl.h"
#include "core/log.h"
#include "uffd/lazyrec.h"
#include "uffd/session.h"

/* One more unit PLACED or REMOVED: COMPLETE once all are. */
static void gm_uffd_unit_done(struct gm_uffd_sess *s)
{
	if (atomic_fetch_add(&s->units_done, 1) + 1 == s->units_covered) {
		atomic_store(&s->state, GMEMFS_SESS_COMPLETE);
		gm_info("%s: every unit placed or discarded", s->name);
	}
}

static bool gm_uffd_unit_final_done(enum gm_uffd_unit st)
{
	return st == GM_UNIT_PLACED || st == GM_UNIT_REMOVED;
}

/* The state a claimed unit ends in after placing it returned err. */
static enum gm_uffd_unit gm_uffd_unit_outcome(int err)
{
	switch (err) {
	case 0:
	case -EEXIST:		/* its pages are there already */
		return GM_UNIT_PLACED;
	case -EIO:		/* a checksum failed: there are no right bytes */
		return GM_UNIT_CORRUPT;
	default:		/* -EAGAIN, -ESRCH, -ENOMEM...: nothing placed for good */
		return GM_UNIT_ABSENT;
	}
}

enum gm_uffd_unit gm_uffd_unit_state(struct gm_uffd_sess *s, uint64_t u)
{
	return atomic_load(&s->units[u]);
}

static bool gm_uffd_unit_claim(struct gm_uffd_sess *s, uint64_t u)
{
	uint8_t expect = GM_UNIT_ABSENT;

	return atomic_compare_exchange_strong(&s->units[u], &expect, GM_UNIT_CLAIMED);
}

/* A discard may have come while the unit was claimed: then it stays
 * REMOVED, and the discard counted it. */
static void gm_uffd_unit_release(struct gm_uffd_sess *s, uint64_t u, enum gm_uffd_unit to)
{
	uint8_t expect = GM_UNIT_CLAIMED;

	if (!atomic_compare_exchange_strong(&s->units[u], &expect, to))
		return;
	/* The bit after the placement: a unit placed without it is placed
	 * again after a restart, and the kernel keeps its pages (EEXIST). */
	if (to == GM_UNIT_PLACED)
		gm_lazyrec_placed(s, u);
	if (gm_uffd_unit_final_done(to))
		gm_uffd_unit_done(s);
}

void gm_uffd_unit_mark_placed(struct gm_uffd_sess *s, uint64_t u)
{
	uint8_t expect = GM_UNIT_ABSENT;

	if (atomic_compare_exchange_strong(&s->units[u], &expect, GM_UNIT_PLACED))
		gm_uffd_unit_done(s);
}

int gm_uffd_unit_place(struct gm_uffd_sess *s, uint64_t u, gm_uffd_place_fn place, void *ctx)
{
	int err;

	if (!gm_uffd_unit_claim(s, u))
		return -EALREADY;
	err = place(s, u, ctx);
	gm_uffd_unit_release(s, u, gm_uffd_unit_outcome(err));
	return err;
}

int gm_uffd_units_place(struct gm_uffd_sess *s, uint64_t u0, uint64_t n, uint64_t *claimed,
			gm_uffd_place_run_fn place, void *ctx)
{
	uint64_t k = 0;
	int err;

	while (k < n && u0 + k < s->nunits && gm_uffd_unit_claim(s, u0 + k))
		k++;
	*claimed = k;
	if (!k)
		return -EALREADY;
	err = place(s, u0, k, ctx);
	for (uint64_t i = 0; i < k; i++)
		gm_uffd_unit_release(s, u0 + i, gm_uffd_unit_outcome(err));
	return err;
}

void gm_uffd_unit_discard(struct gm_uffd_sess *s, uint64_t u)
{
	uint8_t old = atomic_exchange(&s->units[u], GM_UNIT_REMOVED);

	if (!gm_uffd_unit_final_done(old))
		gm_uffd_unit_done(s);
}
