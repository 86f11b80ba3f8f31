/*
 * The inode and directory tables.  Both are RCU lock-free hash tables
 * (liburcu rculfhash; threads register lazily, see rcu.h), read on every
 * lookup without locks:
 *   itable->inodes:   gm_inode by stable ino (journal ids, stats, replay)
 *   itable->dentries: gm_dentry by (parent ino, name)
 * Each directory also keeps its entries on a list ordered by a cookie that
 * only grows, which is what readdir offsets are.
 *
 * Lifetime: an inode lives while inode->refs > 0.  Holders: each dentry
 * naming it, each kernel lookup (nlookup; dropped by FUSE forget), each open
 * file handle, and short-lived references taken by gm_inode_get()-style
 * accessors.  The last gm_inode_put() removes it from the table, calls the
 * table's evict hook (which releases the backing object) and frees it after
 * an RCU grace period.
 *
 * Locking: the daemon's one lock order, outermost first.  A thread takes
 * a lock only while holding none but locks above it.  The files that own
 * the other locks point here and say what each guards.
 *
 *   itable->tree_lock   fs-wide: every namespace change, dir lists and
 *                       their readdir cursors, nlink, parent, table
 *                       growth, journal appends and compaction (the
 *                       journal has no lock of its own).  A last reference
 *                       can go under it (gm_dentry_del_locked), so eviction
 *                       may take any lock below.
 *   inode->lock         per inode: attributes, xattrs, backing state.  One
 *                       at a time: nothing holds two inode locks.
 *   pool->lock          mem/pool.h: limit changes.  The providers' usage,
 *                       set_limit and forget, and kvm-gmem's attach, run
 *                       under it (gm_pool_locked).
 *   kgp->lock           prov/kvm_gmem.c: the attached guest_memfds.
 *   shim.lock           prov/shim.c: the shim's netlink handle and table;
 *                       also taken alone, by the shim's event thread.
 *   conv.lock           prov/shim_convert.c: CONVERT events to decide;
 *                       taken under shim.lock, nothing under it.
 *   priv.lock           meta/private.c: private and busy ranges; taken
 *                       under tree_lock or alone, nothing under it.
 *   rb->lock            mem/rebalancer.h: the stop and kick flags (a kick
 *                       comes from eviction).
 *   pi->idle_lock       prov/prov.h: a store's idle backing fds, taken
 *                       under inode->lock (mem/backing.c).
 * The last four are leaves: nothing is taken under them, nor one of them
 * under another, except conv.lock under shim.lock.  One exception to "one inode lock at a time": the idle
 * fd trim (backing.c) may try, never wait for, a second inode's lock.
 *
 * Apart from these, taken with none of them held and taking none of them:
 *   gm_uffd_reg.lock    uffd/session.c: the lazy-restore sessions' list;
 *   then sess->lock     uffd/session.h: a session's removed ranges and
 *                       latencies, a leaf.
 *   cs->lock            ctl/sock.h: the control connections, a leaf.
 *   gm_view_copies.lock fuse/views.c: the open views' copies, a leaf.
 * Lookups take no lock: RCU read side plus a get-unless-zero reference
 * (gm_itable_for_each takes inode locks inside its read side).
 *
 * Not for: FUSE (fuse/) or journaling (namespace.c).
 */
#ifndef GM_INODE_H
#define GM_INODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <urcu/list.h>

#include "core/rcu.h"

#include "meta/policy.h"

struct gm_prov_inst;

/* An inode's xattrs: a list in the order they were set (listxattr and
 * the journal keep it), and, past a few, a hash index by name so a get or
 * set costs the same at 10,000 xattrs as at 1.  All under inode->lock. */
struct gm_xattr {
	struct gm_xattr *next;			/* inode->xattrs, in set order */
	struct gm_xattr **pprev;		/* the link that points here */
	struct gm_xattr *hnext;			/* inode->xindex bucket chain */
	uint32_t hash;				/* of name */
	char *name;
	void *value;
	size_t len;
};

struct gm_xattr_index;			/* inode.c */


struct gm_inode {
	/* Immutable after gm_inode_alloc(). */
	uint64_t ino;
	mode_t type;				/* S_IFMT bits; only S_IFREG has a backing */
	bool is_virtual;			/* .gmemfs views: never journaled */
	dev_t rdev;				/* S_IFCHR and S_IFBLK */
	char *link;				/* S_IFLNK: the target */
	struct cds_lfht_node hnode;		/* itable->inodes; RCU */
	struct rcu_head rcu;
	atomic_long refs;

	pthread_mutex_t lock;
	/* Under lock. */
	mode_t perm;				/* 07777 bits */
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime, ctime;	/* regular files use the backing's */
	enum gm_pagesize policy;		/* dirs: own (may be INHERIT); files: concrete */
	struct gm_prov_inst *pi;		/* files: provider instance */
	int backing_fd;				/* files: -1 until attached, and while no
						 * one uses it (fd_users) if the provider
						 * can reopen it (prov->reopen); only
						 * through mem/backing.h's gm_backing_fd_*:
						 * read without the lock by handlers of an
						 * open file, which holds a use */
	unsigned fd_users;			/* uses of backing_fd: open file handles,
						 * daemon operations in progress */
	uint64_t declared;			/* files: bytes counted for it in
						 * pi->declared (mem/backing.c) */
	struct cds_list_head idle_node;		/* files: on pi->idle while its fd is
						 * open and unused; pi->idle_lock */
	bool idle;				/* on pi->idle; pi->idle_lock */
	int backing_id;				/* passthrough id while nopen > 0 */
	unsigned nopen;				/* open file handles */
	pthread_cond_t released;		/* broadcast when nopen drops to 0 */
	struct gm_xattr *xattrs;		/* user.*, trusted.* xattrs but ours */
	uint32_t iflags;			/* chattr flags (iflags.h); written under
						 * tree_lock and lock, read under either */
	bool backing_recreated;			/* replay found no backing: came back empty */

	/* Under itable->tree_lock. */
	uint32_t nlink;
	bool tmpfile;				/* O_TMPFILE, never linked: not in the
						 * journal; its first link records it */
	struct gm_inode *parent;		/* dirs: containing dir (root and removed: self) */
	struct cds_list_head children;		/* dirs: gm_dentry.sibling by cookie */
	uint64_t next_cookie;			/* dirs: readdir offsets, never reused */
	uint64_t nchildren;			/* dirs: entries, for rmdir/rename */
	uint64_t emit_mark;			/* compaction: emitted in this pass */

	/* Lookups that must not walk a list (issue 16).  dir_cursors under
	 * itable->tree_lock; xindex under lock. */
	struct cds_list_head dir_cursors;	/* dirs: open gm_dir_cursor.link */
	struct gm_xattr_index *xindex;		/* NULL while there are few xattrs */
};

struct gm_dentry {
	struct cds_lfht_node hnode;		/* itable->dentries; RCU */
	struct rcu_head rcu;
	struct cds_list_head sibling;		/* parent->children; tree_lock */
	uint64_t parent_ino;			/* immutable */
	uint64_t cookie;			/* immutable */
	struct gm_inode *inode;			/* holds a reference; immutable */
	char name[];				/* immutable */
};

struct gm_itable;
typedef void (*gm_evict_fn)(struct gm_itable *it, struct gm_inode *inode);

/*
 * The tables grow here, not by rculfhash's lazy auto-resize.  That one
 * sets ht->resize_initiated after it queues the resize work (liburcu
 * 0.13, Debian 12's, and upstream still): if the worker runs the whole
 * resize in between, the flag stays set with nothing queued, no later
 * resize is ever queued, and lookups walk ever longer chains.  A gmemfsd
 * under load was found at 8,192 buckets for 99,000 inodes.  So each table
 * doubles when its count reaches its bucket count, in the inserting
 * thread, and shrinks when a removal leaves it an eighth full; tree_lock
 * serializes both.
 */
struct gm_itable {
	struct cds_lfht *inodes;
	struct cds_lfht *dentries;
	pthread_mutex_t tree_lock;
	gm_evict_fn evict;			/* releases backing; may be NULL */
	void *owner;				/* the gm_fs, for evict */
	atomic_long ninodes;
	atomic_long ndentries;
	unsigned long inode_buckets;		/* tree_lock (inserts, removals) */
	unsigned long dentry_buckets;		/* tree_lock */
};

int gm_itable_init(struct gm_itable *it, gm_evict_fn evict, void *owner);
/* Drop every dentry and inode (daemon exit).  No lookups may run. */
void gm_itable_fini(struct gm_itable *it);

/* New inode with refs == 0, not yet in the table. */
struct gm_inode *gm_inode_alloc(uint64_t ino, mode_t mode, uid_t uid, gid_t gid);
/* Free one that never reached the table (the table's own go after an RCU
 * grace period, through the same function). */
void gm_inode_free(struct gm_inode *inode);
/* Insert into the inode table (tree_lock held, or no other thread yet);
 * -EEXIST if the ino is taken. */
int gm_inode_hash_add(struct gm_itable *it, struct gm_inode *inode);

/* Call fn for every inode in the table, inside one RCU read-side section
 * (fn may take inode locks; it must not take tree_lock or put the inode). */
void gm_itable_for_each(struct gm_itable *it, void (*fn)(struct gm_inode *inode, void *ctx),
			void *ctx);

/* Reference counting.  gm_inode_find() returns NULL for an inode whose last
 * reference is already gone (it is being evicted). */
struct gm_inode *gm_inode_find(struct gm_itable *it, uint64_t ino);
void gm_inode_ref(struct gm_inode *inode, long n);
void gm_inode_put(struct gm_itable *it, struct gm_inode *inode, long n);

/* Dentry lookup: the child's inode with a reference, or NULL. */
struct gm_inode *gm_dentry_lookup(struct gm_itable *it, uint64_t parent_ino,
				  const char *name);
/* The dentry itself; tree_lock held, no reference taken. */
struct gm_dentry *gm_dentry_find_locked(struct gm_itable *it, uint64_t parent_ino,
					const char *name);
/* A dentry for name, not yet linked anywhere, or NULL.  Namespace changes
 * allocate before they journal, so nothing can fail after the journal
 * holds the change. */
struct gm_dentry *gm_dentry_alloc(const char *name);
/* Link inode under dir through d (tree_lock held; the caller checked that
 * the name is free).  Takes a reference on inode; bumps nlink. */
void gm_dentry_insert_locked(struct gm_itable *it, struct gm_inode *dir,
			     struct gm_dentry *d, struct gm_inode *inode);
/* Both in one: -EEXIST, -ENOMEM. */
int gm_dentry_add_locked(struct gm_itable *it, struct gm_inode *dir,
			 const char *name, struct gm_inode *inode);
/* Remove a dentry (tree_lock held): drops its inode reference and nlink. */
void gm_dentry_del_locked(struct gm_itable *it, struct gm_inode *dir,
			  struct gm_dentry *d);

/* The link of inode->xattrs that holds name, or the NULL link at the end
 * (inode->lock held).  A found entry is *slot.  Read it only: entries come
 * and go through gm_xattr_link and gm_xattr_unlink, which keep the index. */
struct gm_xattr **gm_xattr_slot(struct gm_inode *inode, const char *name);
/* Append x (x->name set, not yet on inode) / take x off inode, not freeing
 * it.  inode->lock held.  Neither fails: an index that cannot grow only
 * makes its chains longer. */
void gm_xattr_link(struct gm_inode *inode, struct gm_xattr *x);
void gm_xattr_unlink(struct gm_inode *inode, struct gm_xattr *x);
void gm_xattr_free(struct gm_xattr *x);
/* Free every xattr of inode and its index. */
void gm_xattrs_free_all(struct gm_inode *inode);

/* The first entry of dir with cookie > after, or NULL (tree_lock held).
 * Walks dir's list from the start unless an open cursor of dir is at or
 * just before after: for a whole listing, use a cursor. */
struct gm_dentry *gm_dentry_next_locked(struct gm_inode *dir, uint64_t after);

/*
 * A readdir position on an open directory, so that resuming a listing
 * costs O(1) however large the directory is.  Each mark remembers an
 * offset and the first live entry with a larger cookie (NULL: none yet);
 * gm_dentry_del_locked moves a mark off the entry it removes, and
 * gm_dentry_insert_locked gives a mark at the end its new entry, so a
 * mark is exact whatever changes in between.  Two marks: where the last
 * reply started and where it ended, because the kernel may hand its reader
 * only part of a reply and ask again from inside it.  An offset before
 * both marks (seekdir back to an old telldir) walks from the start.
 * All under tree_lock.
 */
struct gm_dir_cursor {
	struct cds_list_head link;		/* dir->dir_cursors */
	struct gm_inode *dir;			/* referenced by the cursor's owner */
	struct {
		uint64_t pos;			/* an offset: 2 (after ".."), or a cookie */
		struct gm_dentry *next;		/* first live entry with cookie > pos */
	} mark[2];
};

void gm_dir_cursor_open(struct gm_dir_cursor *c, struct gm_inode *dir);
void gm_dir_cursor_close(struct gm_dir_cursor *c);
/* The first entry with cookie > after (after < 3: the first entry), which
 * both marks then describe: the start of a new reply. */
struct gm_dentry *gm_dir_cursor_seek(struct gm_dir_cursor *c, uint64_t after);
/* d, returned by seek or the last next, was listed (or skipped): the end
 * mark moves past it; returns the entry after it, or NULL. */
struct gm_dentry *gm_dir_cursor_next(struct gm_dir_cursor *c, struct gm_dentry *d);

#endif
