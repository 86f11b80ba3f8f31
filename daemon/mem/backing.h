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
 * policy's provider.  Sets inode->pi, counts the file in its provider's
 * declared sum, and leaves inode->backing_fd open only if the provider
 * cannot reopen it (prov->reopen). */
int gm_backing_attach(struct gm_fs *fs, struct gm_inode *inode, bool replay);
/* Move an empty file's backing to a provider of policy ps (the caller
 * checked that it is empty and unopened); stays if the current one is one
 * of them.  inode->lock held.  -ENOSPC when none is available. */
int gm_backing_move(struct gm_fs *fs, struct gm_inode *inode, enum gm_pagesize ps,
		    bool replay);
/* Could the file take policy ps now (a provider it allows is available)?
 * 0, -ENOSPC or -EOPNOTSUPP (shim-secret without a carve-out), logged;
 * checked before a policy change is journaled.
 * inode->lock held. */
int gm_backing_policy_check(struct gm_fs *fs, struct gm_inode *inode, enum gm_pagesize ps);
/* The evict hook of the inode table: closes and removes the backing. */
void gm_backing_evict(struct gm_itable *it, struct gm_inode *inode);
/* fstat of the backing (without an fd for an idle one), which also
 * refreshes what the file counts for in the pool; inode->lock held or the
 * inode otherwise stable. */
int gm_backing_stat(struct gm_inode *inode, struct stat *st);
/* The backing's own fstat, without the provider's stat_fixup: size and
 * times, and st_blocks of the backing file itself.  The fixup may walk
 * every page of the file (kvm-gmem's mincore), too much for read/write;
 * use this wherever st_size decides.  Refreshes the declared sum too. */
int gm_backing_stat_size(struct gm_inode *inode, struct stat *st);
/* Remove backing objects no inode refers to (crash leftovers); with
 * unlinked, also those of inodes with no name left (at exit). */
void gm_backing_sweep_orphans(struct gm_fs *fs, bool unlinked);
/* A new file's store may have no headroom (it held no files): split now,
 * reserving half the pool's free space for the new file until the next
 * split sees its real size, since a new file is the likeliest next writer
 * (a VMM's RAM being filled, a dd).  No locks held. */
void gm_backing_make_room(struct gm_fs *fs, struct gm_inode *inode);
/* Re-split the pool from the sizes files declare; extra_inode may grow to
 * extra_size (a truncate or fallocate about to happen). */
int gm_backing_rebalance(struct gm_fs *fs, struct gm_inode *extra_inode,
			 uint64_t extra_size);

/*
 * The backing fd.  A file of a provider that can reopen its backing holds
 * no fd while nobody uses it (the fd limit would otherwise bound the number
 * of files); every use of inode->backing_fd goes through these.  get opens
 * it again if needed and takes a use; put gives the use back, counts what
 * the file holds now in the pool's sums, and after the last use keeps
 * the fd among the store's few most recently idle ones or closes it.
 * Both with inode->lock held.  An open file handle holds a use from
 * open to release, so handlers of open files read the fd without the lock
 * (gm_backing_fd_held).  get: the fd or -errno (logged).
 */
int gm_backing_fd_get(struct gm_inode *inode);
void gm_backing_fd_put(struct gm_inode *inode);
static inline int gm_backing_fd_held(const struct gm_inode *inode)
{
	return inode->backing_fd;
}
/* Close the idle fds the stores keep (daemon exit, before the inode
 * table is freed without eviction).  No request may run. */
void gm_backing_idle_close_all(struct gm_pool *pool);
/* One-off calls on the backing, each through a use of its fd: set its
 * times (inode->lock held; 0 or -errno), bump its ctime as a metadata
 * change does (inode->lock held), mirror the noatime flag (takes the lock). */
int gm_backing_set_times(struct gm_inode *inode, const struct timespec ts[2]);
void gm_backing_touch_ctime(struct gm_inode *inode);
void gm_backing_mirror_noatime(struct gm_inode *inode, bool noatime);
/* Bytes a file counts for in its provider's declared sum, from the
 * backing's plain fstat: max(size, blocks), at least 4096. */
uint64_t gm_backing_declared(const struct stat *st);

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
