/*
 * Bringing a mount's state up and down: the fixed inodes, the pool, the
 * journal replayed into the tree, orphaned backing objects swept, and the
 * journal compacted.  Not for: FUSE (main.c starts the session after this).
 */
#ifndef GM_RECOVER_H
#define GM_RECOVER_H

#include "fs.h"

/* 0 or -errno (logged). */
int gm_fs_setup(struct gm_fs *fs, struct gm_opts *opts);
/* Free memory; backing objects and the journal stay for the next start. */
void gm_fs_teardown(struct gm_fs *fs);

/* Rewrite the journal from the live tree (also used by unit tests). */
int gm_fs_compact(struct gm_fs *fs);
/* Compact when the journal holds many more records than the tree needs
 * (create/unlink churn of a long-lived mount).  No locks held. */
void gm_fs_maybe_compact(struct gm_fs *fs);

#endif
