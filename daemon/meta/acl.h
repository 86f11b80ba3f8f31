/*
 * POSIX ACLs in the form the kernel passes them as the xattrs
 * system.posix_acl_access and system.posix_acl_default: a version header
 * then (tag, perm, id) entries, little-endian.  With FUSE_POSIX_ACL the
 * kernel checks permissions against them itself, and leaves to the daemon
 * what a local filesystem's VFS does: keep the mode's bits in step with the
 * access ACL (both ways: setfacl moves the mode, chmod rewrites the ACL),
 * and hand a directory's default ACL down to what is created in it, in
 * place of the umask.  Pure functions over the bytes; the hooks are in
 * fuse/acl.c.
 */
#ifndef GM_ACL_H
#define GM_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define GM_ACL_ACCESS	"system.posix_acl_access"
#define GM_ACL_DEFAULT	"system.posix_acl_default"

/* 0 if v is a well-formed ACL (the kernel's posix_acl_valid rules: one
 * owner, owning-group and other entry, a mask where named entries are,
 * entries in tag order), else -EINVAL. */
int gm_acl_valid(const void *v, size_t len);
/* A malloc'ed copy of a well-formed ACL in *out: 0, -EINVAL, -ENOMEM. */
int gm_acl_dup(const void *v, size_t len, void **out);

/* Whom an access check is for: a uid, and whether it is in a group. */
struct gm_acl_who {
	uid_t uid;
	bool (*in_group)(const void *ctx, gid_t gid);
	const void *ctx;
};

/* Does valid access ACL v grant who the rwx bits in want, for a file owned
 * by owner:group?  The kernel's posix_acl_permission walk: the owner's
 * entry, a named user's (through the mask), the groups' (through the
 * mask; any matching group that grants), else other's. */
bool gm_acl_permits(const void *v, size_t len, const struct gm_acl_who *who, uid_t owner,
		    gid_t group, unsigned want);

/* The permission bits (0777) an access ACL gives the mode: the owner's,
 * the mask's (or the owning group's without one), and other's.  *equiv:
 * the ACL says nothing more than those bits (three entries), so it need
 * not be kept.  v must be valid. */
mode_t gm_acl_mode(const void *v, size_t len, bool *equiv);

/* chmod: set the owner, group-class and other entries of a valid access
 * ACL to mode's bits.  True if anything changed. */
bool gm_acl_chmod(void *v, size_t len, mode_t mode);

/* Creating in a directory with default ACL v (a copy, changed in place):
 * mask its entries by the create mode's bits, as posix_acl_create does,
 * and return the new inode's permission bits.  *equiv as for gm_acl_mode. */
mode_t gm_acl_inherit(void *v, size_t len, mode_t mode, bool *equiv);

#endif
