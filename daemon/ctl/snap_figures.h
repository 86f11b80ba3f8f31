/*
 * Running figures of the mount's eager SNAPSHOT and RESTORE commands, for
 * .gmemfs/metrics: how many ended well or not, and the bytes, pages and
 * time of those that ended well, in total and for the last one.  Lazy
 * restores are sessions with figures of their own (uffd/session.h).
 * They live in struct gm_fs (fs.h), zeroed with it.
 * Each field is an atomic on its own: a reader may see one request's
 * figures half added, which a scrape tolerates.
 */
#ifndef GM_CTL_SNAP_FIGURES_H
#define GM_CTL_SNAP_FIGURES_H

#include <stdatomic.h>
#include <stdint.h>

struct gm_snap_stats;		/* snap/write.h, which needs fs.h, which needs this */

enum gm_snapfig_op { GM_SNAPFIG_SNAPSHOT, GM_SNAPFIG_RESTORE, GM_SNAPFIG_NOPS };

struct gm_snapfig {
	atomic_uint_fast64_t ok, failed;
	atomic_uint_fast64_t bytes, pages, ns;		/* sums over those that ended well */
	atomic_uint_fast64_t last_bytes, last_ns;	/* the last one that ended well */
	atomic_uint_fast64_t last_end_s;		/* and when it ended, Unix time */
};

extern const char *const gm_snapfig_names[GM_SNAPFIG_NOPS];

/* Count one request that ended with err (0 with the figures in st). */
void gm_snapfig_note(struct gm_snapfig *f, int err, const struct gm_snap_stats *st);

#endif
