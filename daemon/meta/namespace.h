/*
 * Namespace and metadata changes: the one implementation used both by the
 * FUSE handlers (which journal each change) and by journal replay at start
 * (which must reach the same tree).  Every function validates first,
 * journals second (when fs->journaling) and changes memory last, so a
 * change that fails leaves nothing behind.  All take fs->it.tree_lock.
 *
 * Not for: FUSE replies or permission checks (the kernel does those with
 * default_permissions); backing objects (mem/backing.h).
 */
#ifndef GM_NAMESPACE_H
#define GM_NAMESPACE_H

#include "fs.h"

struct gm_new_args {
	const char *name;
	mode_t mode;			/* a file type | permission bits */
	uid_t uid;
	gid_t gid;
	uint64_t ino;			/* replay: the recorded ino; else 0 */
	enum gm_pagesize policy;	/* replay: recorded; else 0 (inherit) */
	uint64_t time_ns;		/* replay: recorded; else 0 (now) */
	dev_t rdev;			/* S_IFCHR, S_IFBLK */
	const char *link;		/* S_IFLNK: the target */
	const void *acl_access;		/* ACLs it inherits (fuse/acl.c), kept */
	const void *acl_default;	/* and journaled with its creation; */
	size_t acl_len;			/* NULL for none */
};

/* A symlink's target: 1 to GM_NS_LINK_MAX bytes, as PATH_MAX allows. */
#define GM_NS_LINK_MAX	4095

/* A name a directory entry may have: -ENAMETOOLONG or -EINVAL. */
int gm_ns_check_name(const char *name);

/* The policy new children of dir get (walks up through INHERIT). */
enum gm_pagesize gm_ns_dir_policy(struct gm_fs *fs, struct gm_inode *dir);

int gm_ns_new(struct gm_fs *fs, struct gm_inode *dir, const struct gm_new_args *a,
	      struct gm_inode **out);
/* Fill the record that creates inode (GM_J_NEW, or GM_J_NODE for the
 * types without memory) but for ino, parent, name and time. */
void gm_ns_create_rec(const struct gm_inode *inode, struct gm_jrec *r);

/* An O_TMPFILE file: a regular file with a backing and no name, not
 * journaled until gm_ns_link gives it one.  a->name is unused. */
int gm_ns_tmpfile(struct gm_fs *fs, struct gm_inode *dir, const struct gm_new_args *a,
		  struct gm_inode **out);
int gm_ns_link(struct gm_fs *fs, struct gm_inode *inode, struct gm_inode *dir,
	       const char *name, uint64_t time_ns);
int gm_ns_unlink(struct gm_fs *fs, struct gm_inode *dir, const char *name,
		 bool rmdir, uint64_t time_ns);
int gm_ns_rename(struct gm_fs *fs, struct gm_inode *odir, const char *oname,
		 struct gm_inode *ndir, const char *nname, unsigned flags,
		 uint64_t time_ns);
/* The same, for a caller who owns what RENAME_WHITEOUT leaves behind. */
int gm_ns_rename_as(struct gm_fs *fs, struct gm_inode *odir, const char *oname,
		    struct gm_inode *ndir, const char *nname, unsigned flags,
		    uid_t uid, gid_t gid, uint64_t time_ns);

#define GM_ATTR_MODE	(1U << 0)
#define GM_ATTR_UID	(1U << 1)
#define GM_ATTR_GID	(1U << 2)
int gm_ns_set_attr(struct gm_fs *fs, struct gm_inode *inode, unsigned mask,
		   mode_t perm, uid_t uid, gid_t gid, uint64_t time_ns);

/* Page-size policy of a directory (INHERIT clears it) or an empty,
 * unopened file (moves it to the policy's provider; -EBUSY otherwise).
 * An empty file still open waits up to GM_NS_RELEASE_WAIT_S for releases
 * in flight, as close() does not wait for them. */
#define GM_NS_RELEASE_WAIT_S	2
int gm_ns_set_policy(struct gm_fs *fs, struct gm_inode *inode, enum gm_pagesize ps);
/* chattr flags (iflags.h; -EOPNOTSUPP for others); ctime moves (time_ns,
 * 0 for now).  Who may is the kernel's check. */
int gm_ns_set_iflags(struct gm_fs *fs, struct gm_inode *inode, uint32_t flags,
		     uint64_t time_ns);

/* atime and mtime of a directory or node (a regular file's live on its
 * backing); ctime moves to time_ns (0 for now).  Either time may be
 * UTIME_NOW (time_ns) or UTIME_OMIT (kept), resolved under inode->lock so
 * that a concurrent change of the other time is not undone. */
/* The TIMES record for inode ino: these times, ctime time_ns. */
struct gm_jrec gm_ns_times_rec(uint64_t ino, struct timespec atime, struct timespec mtime,
			       uint64_t time_ns);
int gm_ns_set_times(struct gm_fs *fs, struct gm_inode *inode, struct timespec atime,
		    struct timespec mtime, uint64_t time_ns);

/* user.* and trusted.* xattrs other than gmemfs's own.  flags: XATTR_CREATE/REPLACE. */
int gm_ns_xattr_set(struct gm_fs *fs, struct gm_inode *inode, const char *name,
		    const void *value, size_t len, int flags);
int gm_ns_xattr_del(struct gm_fs *fs, struct gm_inode *inode, const char *name);

#endif
