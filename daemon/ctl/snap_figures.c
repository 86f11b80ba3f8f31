/*
 * The snapshot and restore figures (see snap_figures.h).
 * Not for: the Prometheus text (fuse/metrics.c).
 */
#include <time.h>

#include "ctl/snap_figures.h"
#include "snap/write.h"

const char *const gm_snapfig_names[GM_SNAPFIG_NOPS] = {
	[GM_SNAPFIG_SNAPSHOT] = "snapshot",
	[GM_SNAPFIG_RESTORE] = "restore",
};

void gm_snapfig_note(struct gm_snapfig *f, int err, const struct gm_snap_stats *st)
{
	if (err) {
		atomic_fetch_add_explicit(&f->failed, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&f->bytes, st->bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&f->pages, st->pages, memory_order_relaxed);
	atomic_fetch_add_explicit(&f->ns, st->ns, memory_order_relaxed);
	atomic_store_explicit(&f->last_bytes, st->bytes, memory_order_relaxed);
	atomic_store_explicit(&f->last_ns, st->ns, memory_order_relaxed);
	atomic_store_explicit(&f->last_end_s, (uint64_t)time(NULL), memory_order_relaxed);
	/* Last, so that a reader who sees the count see the figures too. */
	atomic_fetch_add_explicit(&f->ok, 1, memory_order_release);
}
