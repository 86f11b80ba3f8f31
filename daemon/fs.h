/*
 * The mounted filesystem's state, shared by every part of gmemfsd, and the
 * one way FUSE nodeids become inodes.
 *
 * A nodeid is the inode's number (the root's is FUSE_ROOT_ID), found in
 * the inode table: never reused, so a file handle (open_by_handle_at, NFS
 * export) that outlived its inode finds nothing rather than another file.
 * Every reply that hands the kernel a nodeid (lookup, create, mkdir, link,
 * readdirplus) carries one reference that FUSE forget gives back;
 * gm_fs_inode() is the way from a nodeid to an inode and takes a reference
 * of its own, released with gm_fs_put().
 *
 * Not for: the tables' mechanics (meta/inode.h), journaling (meta/namespace.h).
 */
#ifndef GM_FS_H
#define GM_FS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FUSE_USE_VERSION 317
#include <fuse_lowlevel.h>

#include "meta/inode.h"
#include "meta/journal.h"
#include "core/options.h"
#include "ctl/snap_figures.h"
#include "mem/pool.h"
#include "mem/rebalancer.h"
#include "gmemfs.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uint64_t),
	       "nodeids carry 64-bit inode numbers");

/* Request counters shown in .gmemfs/stats. */
enum gm_op {
	GM_OP_LOOKUP, GM_OP_FORGET, GM_OP_GETATTR, GM_OP_SETATTR, GM_OP_MKNOD,
	GM_OP_MKDIR, GM_OP_UNLINK, GM_OP_RMDIR, GM_OP_RENAME, GM_OP_LINK,
	GM_OP_OPEN, GM_OP_READ, GM_OP_WRITE, GM_OP_FLUSH, GM_OP_RELEASE,
	GM_OP_FSYNC, GM_OP_OPENDIR, GM_OP_READDIR, GM_OP_RELEASEDIR,
	GM_OP_STATFS, GM_OP_SETXATTR, GM_OP_GETXATTR, GM_OP_LISTXATTR,
	GM_OP_REMOVEXATTR, GM_OP_ACCESS, GM_OP_CREATE, GM_OP_FALLOCATE,
	GM_OP_IOCTL, GM_OP_SYMLINK, GM_OP_READLINK, GM_OP_TMPFILE,
	GM_OP_COPY_FILE_RANGE,
	GM_OP_COUNT,
};
extern const char *const gm_op_names[GM_OP_COUNT];

/* Stable inode numbers of the fixed inodes; user files start above. */
#define GM_INO_ROOT	1
#define GM_INO_VIEWS	2
#define GM_INO_STATS	3
#define GM_INO_METRICS	4
#define GM_INO_FIRST	16

struct gm_fs {
	struct gm_opts *opts;		/* immutable after start */
	struct gm_itable it;
	struct gm_inode *root;		/* never evicted */
	struct gm_inode *views_dir;	/* .gmemfs: virtual */
	struct gm_inode *stats_file;	/* .gmemfs/stats: virtual */
	struct gm_inode *metrics_file;	/* .gmemfs/metrics: virtual */
	uint64_t next_ino;		/* under it.tree_lock */
	uint64_t ino_mark;		/* journaled: next_ino may grow to it
					 * (INO_MARK); under it.tree_lock */
	struct gm_journal journal;	/* appends under it.tree_lock */
	bool journaling;		/* false while replaying */
	unsigned replay_failures;	/* records that did not apply at start */
	struct gm_pool pool;
	struct gm_rebalancer rebalancer;
	bool passthrough;		/* negotiated in init; then immutable */
	dev_t fuse_dev;			/* the mount's st_dev; set once mounted */
	struct fuse_session *se;
	atomic_uint_fast64_t ops[GM_OP_COUNT];
	struct gm_snapfig snapfig[GM_SNAPFIG_NOPS];	/* eager SNAPSHOT, RESTORE */
};

static inline void gm_count(struct gm_fs *fs, enum gm_op op)
{
	atomic_fetch_add_explicit(&fs->ops[op], 1, memory_order_relaxed);
}

/* The inode behind a nodeid, with a reference.  NULL only for a nodeid
 * the kernel holds no reference to: a file handle's, which LOOKUP of "."
 * or ".." sends (fuse/ns.c). */
static inline struct gm_inode *gm_fs_inode(struct gm_fs *fs, fuse_ino_t nodeid)
{
	if (nodeid == FUSE_ROOT_ID) {
		gm_inode_ref(fs->root, 1);
		return fs->root;
	}
	return gm_inode_find(&fs->it, nodeid);
}

/* An inode something else holds a reference to for the whole call (the
 * kernel's lookup count for forget, an open file for read, write and
 * release): no reference of its own. */
static inline struct gm_inode *gm_fs_inode_held(struct gm_fs *fs, fuse_ino_t nodeid)
{
	struct gm_inode *inode = gm_fs_inode(fs, nodeid);

	gm_inode_put(&fs->it, inode, 1);	/* never the last: it is held */
	return inode;
}

static inline fuse_ino_t gm_fs_nodeid(struct gm_fs *fs, struct gm_inode *inode)
{
	return inode == fs->root ? FUSE_ROOT_ID : (fuse_ino_t)inode->ino;
}

static inline void gm_fs_put(struct gm_fs *fs, struct gm_inode *inode)
{
	gm_inode_put(&fs->it, inode, 1);
}

static inline struct gm_fs *gm_req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

#endif
