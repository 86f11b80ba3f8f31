/*
 * A file's or directory's page-size policy as text: the one way to read and
 * change it from outside, shared by the user.gmemfs.pagesize xattr
 * (fuse/xattr.c) and the control socket, so both accept the same values,
 * refuse the same way and log the same reason.
 *
 * Not for: what the values mean (policy.c) or how a change is journaled
 * (namespace.c).
 */
#ifndef GM_POLICY_TEXT_H
#define GM_POLICY_TEXT_H

#include <stddef.h>

#include "fs.h"

/* Parse value (size bytes, not NUL-terminated) and apply it: 0, -EINVAL
 * for an unknown value, -EBUSY for a file that holds data or is open. */
int gm_policy_set_text(struct gm_fs *fs, struct gm_inode *inode, const char *value,
		       size_t size);
/* The policy's name (for a directory, what its new files get). */
const char *gm_policy_get_text(struct gm_fs *fs, struct gm_inode *inode);

#endif
