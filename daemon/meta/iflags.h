/*
 * Inode flags (chattr): the set tmpfs supports, FS_APPEND_FL,
 * FS_IMMUTABLE_FL, FS_NODUMP_FL and FS_NOATIME_FL, kept per inode and
 * journaled (GM_J_IFLAGS).  A local filesystem's VFS refuses changes to an
 * immutable or append-only inode by its i_flags; a FUSE inode has none, so
 * the daemon applies the same rules where the change reaches it (the
 * namespace checks, setattr, open, fallocate, xattrs).  The kernel still
 * checks who may change the flags (owner, CAP_LINUX_IMMUTABLE) before it
 * sends them.  Header-only predicates; the change itself is
 * gm_ns_set_iflags (namespace.c), the ioctls fuse/iflags.c.
 *
 * Not enforced, since passthrough writes never reach the daemon: a write
 * through a file opened before the flag was set, and on an append-only
 * file opened O_APPEND, an fcntl that drops O_APPEND or a shared writable
 * mapping (the VFS checks both against i_flags, which a FUSE inode lacks).
 */
#ifndef GM_IFLAGS_H
#define GM_IFLAGS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/fs.h>

#define GM_IFLAGS_SUPPORTED	(FS_APPEND_FL | FS_IMMUTABLE_FL | FS_NODUMP_FL | FS_NOATIME_FL)
#define GM_IFLAGS_FROZEN	(FS_APPEND_FL | FS_IMMUTABLE_FL)

/* May an inode with flags f lose a name, or have its owner, mode, times
 * or extended attributes changed?  (The VFS: may_delete, notify_change,
 * xattr_permission.) */
static inline bool gm_iflags_frozen(uint32_t f)
{
	return f & GM_IFLAGS_FROZEN;
}

/* May a directory with flags f have a name added (immutable: no) or taken
 * away (append-only or immutable: no)? */
static inline bool gm_iflags_dir_may_add(uint32_t f)
{
	return !(f & FS_IMMUTABLE_FL);
}

static inline bool gm_iflags_dir_may_remove(uint32_t f)
{
	return !gm_iflags_frozen(f);
}

/* May a file with flags f be opened with open flags oflags (may_open)? */
static inline bool gm_iflags_may_open(uint32_t f, int oflags)
{
	bool writes = (oflags & O_ACCMODE) != O_RDONLY || oflags & O_TRUNC;

	if (f & FS_IMMUTABLE_FL)
		return !writes;
	if (f & FS_APPEND_FL)
		return !(oflags & O_TRUNC) && (!writes || oflags & O_APPEND);
	return true;
}

/* The ioctls that read or change the flags (fuse/iflags.c). */
static inline bool gm_iflags_is_ioctl(unsigned int cmd)
{
	return cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_SETFLAGS || cmd == FS_IOC_FSGETXATTR ||
	       cmd == FS_IOC_FSSETXATTR;
}

#endif
