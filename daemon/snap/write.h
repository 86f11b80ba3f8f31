/*
 * Writing a snapshot of a gmemfs file's memory (docs/snapshot.md): the
 * image gets the non-zero pages at their own offsets (the rest stays
 * holes), the index their extents and checksums.  An incremental snapshot
 * writes only the pages that differ from its parent chain's content, and
 * marks pages zeroed since as ZERO extents.  The index is written last,
 * after the image is on disk, so an interrupted snapshot has no valid
 * index.
 *
 * Not for: the control socket (ctl/cmd_snap.c), reading a file's memory
 * (source.c), or the format's encoding (format.c).
 */
#ifndef GM_SNAP_WRITE_H
#define GM_SNAP_WRITE_H

#include <stdint.h>

#include "fs.h"
#include "snap/format.h"

/* The figures of a snapshot or restore (GMEMFS_CTL_A_SNAP_*). */
struct gm_snap_stats {
	uint64_t bytes;			/* written to the image (or the file) */
	uint64_t pages;			/* pages written */
	uint64_t skipped;		/* pages not written: zero, or as the parent */
	uint64_t extents;		/* extents in the index */
	uint64_t ns;			/* wall time */
	uint64_t size;			/* the memory's size */
};

/* Progress: bytes of the memory walked so far, of total. */
typedef void (*gm_snap_progress_fn)(uint64_t done, uint64_t total, void *arg);

/* Call the progress hook about this often, in bytes walked. */
#define GM_SNAP_PROGRESS_STEP	(64ull << 20)

struct gm_snap_write_req {
	struct gm_fs *fs;
	struct gm_inode *inode;		/* a regular file, referenced by the caller */
	int img_fd, idx_fd;		/* empty regular files, open O_RDWR */
	const int *parent_fds;		/* the parent's chain (img, idx, ...), or NULL */
	unsigned nparent_fds;
	const char *parent_path;	/* recorded in the index; with parent_fds only */
	gm_snap_progress_fn progress;	/* or NULL */
	void *arg;
};

/* Check that fd is an empty regular file open for reading and writing;
 * what names it in the reason ("image", "index").  0 or -errno with why. */
int gm_snap_check_out_fd(int fd, const char *what, char why[GM_SNAP_WHY_MAX]);

/* Snapshot req->inode's memory.  0 with the figures in *st, or -errno
 * with why: -EINVAL (bad fds, a parent of another size or page size, a
 * chain too deep), -EBUSY (the file changed size meanwhile), -EIO (the
 * parent failed its checksums, a write failed), -ENOMEM.  On failure the
 * image and the index are cut to zero bytes. */
int gm_snap_write(const struct gm_snap_write_req *req, struct gm_snap_stats *st,
		  char why[GM_SNAP_WHY_MAX]);

#endif
