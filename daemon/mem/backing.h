/*
 * A regular file's backing object: the provider file that holds its memory
 * and that FUSE passthrough hands to the kernel, or that the daemon serves
 * read/write from when passthrough cannot (hugetlb, kvm-gmem).  Which of a
 * policy's providers serves a file is decided here (auto and fallbacks, by
 * the file's first size and the pool's room).  Not for: setting the
 * policy (meta/namespace.c) or passthrough ids (fuse/file.c).
 */
#ifndef GM_BACKING_H
#define GM_BACKING_H

#include <sys/stat.h>

#include "fs.h"

/* Create (or, when replaying, find) the backing of a new file under its
 * policy's provider.  Sets inode->pi and inode->backing_fd. */
int gm_backing_attach(struct gm_fs *fs, struct gm_inode *inode, bool replay);
/* Move an empty file's backing to a provider of policy ps (the caller
 * checked that it is empty and unopened); stays if the current one is one
 * of them.  inode->lock held.  -ENOSPC when none is available. */
int gm_backing_move(struct gm_fs *fs, struct gm_inode *inode, enum gm_pagesize ps,
		    bool replay);
/* Could the file take policy ps now (a provider it allows is available)?
 * 0 or -ENOSPC (logged); checked before a policy change is journaled.
 * inode->lock held. */
int gm_backing_policy_check(struct gm_fs *fs, struct gm_inode *inode, enum gm_pagesize ps);
/* The evict hook of the inode table: closes and removes the backing. */
void gm_backing_evict(struct gm_itable *it, struct gm_inode *inode);
/* fstat of the backing; inode->lock held or the inode otherwise stable. */
int gm_backing_stat(struct gm_inode *inode, struct stat *st);
/* The backing's own fstat, without the provider's stat_fixup: size and
 * times, and st_blocks of the backing file itself.  The fixup may walk
 * every page of the file (kvm-gmem's mincore), too much for read/write
 * and the rebalancer's walks; use this wherever st_size decides. */
int gm_backing_stat_size(struct gm_inode *inode, struct stat *st);
/* Remove backing objects no inode refers to (crash leftovers). */
void gm_backing_sweep_orphans(struct gm_fs *fs);
/* A new file's store may have no headroom (it held no files): split now,
 * reserving half the pool's free space for the new file until the next
 * split sees its real size, since a new file is the likeliest next writer
 * (a VMM's RAM being filled, a dd).  No locks held. */
void gm_backing_make_room(struct gm_fs *fs, struct gm_inode *inode);
/* Re-split the pool from the sizes files declare; extra_inode may grow to
 * extra_size (a truncate or fallocate about to happen). */
int gm_backing_rebalance(struct gm_fs *fs, struct gm_inode *extra_inode,
			 uint64_t extra_size);

/* Size changes (truncate, and writes past the end of a hugetlb file):
 * -EFBIG past the pool, -ENOSPC when the policy's providers have no room
 * (a fallback taken first, if the file is still empty), the provider's own
 * rules (hugetlb: whole pages; attached kvm-gmem: fixed).  No locks held. */
int gm_backing_set_size(struct gm_fs *fs, struct gm_inode *inode, uint64_t size);
/* fallocate with the same checks for what it allocates.  No locks held. */
int gm_backing_fallocate(struct gm_fs *fs, struct gm_inode *inode, int mode,
			 uint64_t off, uint64_t len);
/* read()/write() served by the daemon (no passthrough): through the
 * provider's read/write, else pread/pwrite.  Bytes or -errno. */
ssize_t gm_backing_read(struct gm_inode *inode, void *buf, size_t len, off_t off);
ssize_t gm_backing_write(struct gm_fs *fs, struct gm_inode *inode, const void *buf,
			 size_t len, off_t off);

#endif
