/*
 * Who asks, and may they: the permission check for requests the kernel
 * has not checked (control-socket commands, the .gmemfs views).  Defined
 * in meta/access.c.
 */
#ifndef GM_ACCESS_H
#define GM_ACCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "meta/inode.h"

/* Who is asking: for the control socket, SO_PEERCRED and SO_PEERGROUPS at
 * connect time; for a FUSE request, its uid, gid and groups. */
struct gm_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t *groups;			/* supplementary groups */
	int ngroups;
};

/* Does c have permission mask (R_OK|W_OK|X_OK) on inode, as the kernel's
 * check would decide, by the mode or the access ACL?  Root may do
 * everything but write to an immutable or append-only file.  Takes
 * inode->lock. */
bool gm_may(const struct gm_cred *c, struct gm_inode *inode, int mask);
/* Is gid c's primary group or one of its supplementary groups? */
bool gm_cred_in_group(const struct gm_cred *c, gid_t gid);

#endif
