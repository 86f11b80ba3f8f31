/*
 * POSIX ACLs through the mount (FUSE_POSIX_ACL).  The kernel checks
 * permissions against the ACLs, which it reads as the xattrs meta/acl.h names;
 * the daemon keeps them with the other xattrs (journaled) and does what a
 * local filesystem's VFS does around them: setfacl moves the mode's bits,
 * chmod rewrites the access ACL (meta/namespace.c, in the mode's journal
 * write), and a directory's default ACL, not the umask, shapes what is
 * created in it (journaled with the creation).
 *
 * Not for: the byte format (meta/acl.c) or plain xattrs (xattr.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meta/acl.h"
#include "fuse/fsops.h"
#include "core/log.h"
#include "meta/namespace.h"

/* A copy of inode's xattr name, or NULL (also when it is not a valid
 * ACL: a damaged journal must not steer the mode). */
static void *gm_acl_copy(struct gm_inode *inode, const char *name, size_t *len)
{
	struct gm_xattr *x;
	void *copy = NULL;
	int err = 0;

	pthread_mutex_lock(&inode->lock);
	x = *gm_xattr_slot(inode, name);
	if (x)
		err = gm_acl_dup(x->value, x->len, &copy);
	if (copy)
		*len = x->len;
	pthread_mutex_unlock(&inode->lock);
	if (err)
		gm_warn("file %llu: %s not applied: %s", (unsigned long long)inode->ino, name,
			err == -EINVAL ? "not a valid ACL" : strerror(-err));
	return copy;
}

/* setfacl: the mode's bits follow the ACL; an ACL that says no more than
 * the mode is not kept; set-group-ID goes unless the setter may keep it
 * (a member of the file's group, or root), as the VFS rules. */
static int gm_acl_set_access(fuse_req_t req, struct gm_inode *inode, const void *v,
			     size_t len, int flags)
{
	struct gm_fs *fs = gm_req_fs(req);
	bool equiv;
	mode_t bits = gm_acl_mode(v, len, &equiv), perm, nperm;
	gid_t gid;
	int err;

	pthread_mutex_lock(&inode->lock);
	perm = inode->perm;
	gid = inode->gid;
	pthread_mutex_unlock(&inode->lock);
	nperm = (perm & ~(mode_t)0777) | bits;
	if (nperm & S_ISGID && !gm_req_in_group(req, gid))
		nperm &= ~(mode_t)S_ISGID;
	if (equiv) {
		err = gm_ns_xattr_del(fs, inode, GM_ACL_ACCESS);
		err = err == -ENODATA ? 0 : err;
	} else {
		err = gm_ns_xattr_set(fs, inode, GM_ACL_ACCESS, v, len, flags);
	}
	if (!err && nperm != perm)
		err = gm_ns_set_attr(fs, inode, GM_ATTR_MODE, nperm, 0, 0, 0);
	return err;
}

int gm_acl_setxattr(fuse_req_t req, struct gm_inode *inode, bool dflt, const void *v,
		    size_t len, int flags)
{
	if (inode->type == S_IFLNK)
		return -EOPNOTSUPP;
	if (dflt && inode->type != S_IFDIR)
		return -EACCES;		/* only directories have a default ACL */
	if (gm_acl_valid(v, len)) {
		gm_info("file %llu: %s refused: not a valid ACL", (unsigned long long)inode->ino,
			dflt ? GM_ACL_DEFAULT : GM_ACL_ACCESS);
		return -EINVAL;
	}
	if (dflt)
		return gm_ns_xattr_set(gm_req_fs(req), inode, GM_ACL_DEFAULT, v, len, flags);
	return gm_acl_set_access(req, inode, v, len, flags);
}

/* Out of memory here leaves the umask to apply and no ACL: the new inode
 * gets fewer rights, never more. */
bool gm_acl_inherit_prepare(struct gm_inode *dir, struct gm_new_args *a,
			    struct gm_acl_inh *inh)
{
	bool equiv;

	memset(inh, 0, sizeof(*inh));
	inh->def = gm_acl_copy(dir, GM_ACL_DEFAULT, &inh->len);
	if (!inh->def)
		return false;
	inh->acc = malloc(inh->len);
	if (!inh->acc) {
		gm_acl_inherit_done(inh);
		return false;
	}
	memcpy(inh->acc, inh->def, inh->len);
	a->mode = (a->mode & ~(mode_t)0777) | gm_acl_inherit(inh->acc, inh->len, a->mode, &equiv);
	if (equiv) {
		free(inh->acc);
		inh->acc = NULL;
	}
	if (!S_ISDIR(a->mode)) {
		free(inh->def);		/* only directories pass it on */
		inh->def = NULL;
	}
	a->acl_access = inh->acc;
	a->acl_default = inh->def;
	a->acl_len = inh->len;
	return true;
}

void gm_acl_inherit_done(struct gm_acl_inh *inh)
{
	free(inh->acc);
	free(inh->def);
	inh->acc = inh->def = NULL;
}
