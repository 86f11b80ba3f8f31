/*
 * Eager restore: filling a gmemfs file that holds no memory yet with a
 * snapshot's memory, every extent's checksum verified before its bytes are
 * written.  All or nothing: on any failure the file is emptied again (its
 * memory punched, a size it did not have taken back), and the reason says
 * so.
 *
 * Not for: lazy restore through userfaultfd (uffd/), reading the format
 * (format.c), or the control socket (ctl/cmd_snap.c).
 */
#ifndef GM_SNAP_RESTORE_H
#define GM_SNAP_RESTORE_H

#include <stdbool.h>

#include "fs.h"
#include "snap/write.h"		/* struct gm_snap_stats, gm_snap_progress_fn */

struct gm_snap_restore_req {
	struct gm_fs *fs;
	struct gm_inode *inode;		/* a regular file, referenced by the caller */
	const int *fds;			/* the chain: img0, idx0, img1, idx1, ... */
	unsigned nfds;
	gm_snap_progress_fn progress;	/* or NULL */
	void *arg;
	bool force;			/* a secret snapshot into a file that is not */
};

/* Restore into req->inode, which must hold no memory (else -EBUSY) and
 * have size 0 or the snapshot's (else -EINVAL), and be secret if the
 * snapshot is, unless forced (else -EPERM).  0 with the figures in
 * *st, or -errno with why: the chain's refusals (-EINVAL), -EIO (a
 * checksum or a short image, naming the layer and extent), the backing's
 * errors (-ENOSPC ...). */
int gm_snap_restore(const struct gm_snap_restore_req *req, struct gm_snap_stats *st,
		    char why[GM_SNAP_WHY_MAX]);

#endif
