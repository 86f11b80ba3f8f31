/*
 * Private ranges of shim files, as the daemon knows them, and the "busy"
 * ranges of files whose memory a snapshot or a restore is reading or
 * placing (docs/shim.md, "Conversion policy").
 *
 * Private ranges are what the module reported as applied (a CONVERT
 * outcome, prov/shim_convert.c), journaled as GM_J_PRIVATE records before
 * they change here, replayed at start and written whole by compaction.
 * Conversions the daemon approved but the module has not yet reported are
 * "pending": a to-private one counts as private for a snapshot, which then
 * never reads a page that may be private by the time it gets there.
 *
 * Busy ranges are registered by their work (a snapshot, an eager restore,
 * a lazy restore in ask mode) under an owner token and refuse conversions
 * to private from anyone but the daemon itself.  Registration and the
 * approval of a conversion take the same lock, so a conversion either was
 * approved before the work started (and is pending or applied when the
 * work reads the ranges) or is refused.
 *
 * Locking: priv.lock (here) guards both tables; it is taken under
 * tree_lock (compaction, replay) and nothing is taken under it.  Lock
 * order: meta/inode.h.
 *
 * Not for: deciding a CONVERT (prov/shim_convert.c) or the snapshot
 * format (snap/).
 */
#ifndef GM_META_PRIVATE_H
#define GM_META_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/journal.h"
#include "snap/format.h"

struct gm_fs;

/* The mount whose journal records private ranges (one per daemon). */
void gm_private_attach(struct gm_fs *fs);
void gm_private_detach(void);
struct gm_fs *gm_private_fs(void);

/* The module applied a conversion of [off, off + len) of file ino:
 * journal it (if the file has a name), then record it.  0 or -errno. */
int gm_private_applied(uint64_t ino, uint64_t off, uint64_t len, bool private);
/* The file is gone: forget its ranges (pending ones included). */
void gm_private_forget(uint64_t ino);

/* The ranges of file ino that are private or pending to private, clipped
 * to size, sorted and merged; *out is malloc'ed (NULL when *n is 0). */
int gm_private_ranges(uint64_t ino, uint64_t size, struct gm_snap_range **out, size_t *n);

/* Approve a conversion: -EBUSY with *what naming the work if to_private,
 * check_busy and a busy range of ino overlaps; else it is pending. */
int gm_private_approve(uint64_t ino, uint64_t off, uint64_t len, bool to_private,
		       bool check_busy, const char **what);
/* The module reported the outcome of a conversion: false if none was
 * pending (the daemon refused it). */
bool gm_private_settled(uint64_t ino, uint64_t off, uint64_t len, bool to_private);

/* Work on [off, off + len) of file ino begins; what names it in refusals
 * ("a snapshot"), owner identifies the registration.  0 or -ENOMEM. */
int gm_busy_add(uint64_t ino, uint64_t off, uint64_t len, const char *what, const void *owner);
/* Every range owner registered ends (none: nothing happens). */
void gm_busy_del(const void *owner);

/* Journal replay of a GM_J_PRIVATE record; compaction's records of ino's
 * private ranges (tree_lock held). */
int gm_private_replay(struct gm_fs *fs, const struct gm_jrec *r);
int gm_private_emit(struct gm_journal *j, uint64_t ino);

#endif
