/*
 * May a credential do this to an inode?  The check the kernel's
 * default_permissions makes for the mount, made by the daemon for requests
 * that do not come through the kernel: control-socket commands, and what
 * the .gmemfs views show a reader.
 *
 * Not for: FUSE requests, which the kernel has checked already.
 */
#include <pthread.h>
#include <unistd.h>

#include "meta/access.h"
#include "meta/acl.h"
#include "meta/iflags.h"
#include "meta/namespace.h"

bool gm_cred_in_group(const struct gm_cred *c, gid_t gid)
{
	if (c->gid == gid)
		return true;
	for (int i = 0; i < c->ngroups; i++) {
		if (c->groups[i] == gid)
			return true;
	}
	return false;
}

static bool gm_cred_in_group_cb(const void *c, gid_t gid)
{
	return gm_cred_in_group(c, gid);
}

/* The mode's answer, or the access ACL's where the file has one.
 * inode->lock held. */
static bool gm_may_locked(const struct gm_cred *c, struct gm_inode *inode, int mask)
{
	struct gm_xattr *acl = *gm_xattr_slot(inode, GM_ACL_ACCESS);
	struct gm_acl_who who = { .uid = c->uid, .in_group = gm_cred_in_group_cb, .ctx = c };
	mode_t perm;

	if (acl && gm_acl_valid(acl->value, acl->len) == 0)
		return gm_acl_permits(acl->value, acl->len, &who, inode->uid, inode->gid,
				      (unsigned)mask);
	if (c->uid == inode->uid)
		perm = inode->perm >> 6;
	else if (gm_cred_in_group(c, inode->gid))
		perm = inode->perm >> 3;
	else
		perm = inode->perm;
	return (perm & mask & 7) == (mask & 7);
}

bool gm_may(const struct gm_cred *c, struct gm_inode *inode, int mask)
{
	bool ok;

	pthread_mutex_lock(&inode->lock);
	/* An immutable or append-only file hands out no writable memory, to
	 * root neither (the VFS's rule for opening it). */
	if (mask & W_OK && inode->type == S_IFREG && gm_iflags_frozen(inode->iflags))
		ok = false;
	else
		ok = c->uid == 0 || gm_may_locked(c, inode, mask);
	pthread_mutex_unlock(&inode->lock);
	return ok;
}
