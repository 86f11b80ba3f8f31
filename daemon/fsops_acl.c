/*
 * POSIX ACLs through the mount (FUSE_POSIX_ACL).  The kernel checks
 * permissions against the ACLs, which it reads as the xattrs acl.h names;
 * the daemon keeps them with the other xattrs (journaled) and does what a
 * local filesystem's VFS does around them: setfacl moves the mode's bits,
 * chmod rewrites the access ACL, and a directory's default ACL, not the
 * umask, shapes what is created in it.
 *
 * Not for: the byte format (acl.c) or plain xattrs (fsops_xattr.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "fsops.h"
#include "log.h"
#include "namespace.h"

/* A copy of inode's xattr name, or NULL (also when it is not a valid
 * ACL: a damaged journal must not steer the mode). */
static void *gm_acl_copy(struct gm_inode *inode, const char *name, size_t *len)
{
	struct gm_xattr *x;
	void *copy = NULL;

	pthread_mutex_lock(&inode->lock);
	x = *gm_xattr_slot(inode, name);
	if (x && gm_acl_valid(x->value, x->len) == 0 && (copy = malloc(x->len))) {
		memcpy(copy, x->value, x->len);
		*len = x->len;
	}
	pthread_mutex_unlock(&inode->lock);
	if (x && !copy)
		gm_warn("file %llu: %s not applied: %s", (unsigned long long)inode->ino, name,
			gm_acl_valid(x->value, x->len) ? "not a valid ACL" : "out of memory");
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

int gm_acl_follow_chmod(struct gm_fs *fs, struct gm_inode *inode, mode_t mode)
{
	size_t len = 0;
	void *acl = gm_acl_copy(inode, GM_ACL_ACCESS, &len);
	int err = 0;

	if (acl && gm_acl_chmod(acl, len, mode))
		err = gm_ns_xattr_set(fs, inode, GM_ACL_ACCESS, acl, len, 0);
	free(acl);
	return err;
}

bool gm_acl_inherit_prepare(struct gm_inode *dir, struct gm_new_args *a,
			    struct gm_acl_inh *inh)
{
	bool equiv;

	memset(inh, 0, sizeof(*inh));
	inh->def = gm_acl_copy(dir, GM_ACL_DEFAULT, &inh->len);
	if (!inh->def)
		return false;
	inh->acc = malloc(inh->len);
	if (inh->acc) {
		memcpy(inh->acc, inh->def, inh->len);
		a->mode = (a->mode & ~(mode_t)0777) |
			  gm_acl_inherit(inh->acc, inh->len, a->mode, &equiv);
	}
	if (!inh->acc || equiv) {
		free(inh->acc);
		inh->acc = NULL;
	}
	if (!S_ISDIR(a->mode)) {
		free(inh->def);		/* only directories pass it on */
		inh->def = NULL;
	}
	return true;
}

void gm_acl_inherit_apply(struct gm_fs *fs, struct gm_inode *inode, struct gm_acl_inh *inh)
{
	int err = 0;

	if (inode && inh->acc)
		err = gm_ns_xattr_set(fs, inode, GM_ACL_ACCESS, inh->acc, inh->len, 0);
	if (inode && !err && inh->def)
		err = gm_ns_xattr_set(fs, inode, GM_ACL_DEFAULT, inh->def, inh->len, 0);
	if (err)
		gm_warn("file %llu: the directory's default ACL was not handed down: %s",
			(unsigned long long)inode->ino, strerror(-err));
	free(inh->acc);
	free(inh->def);
	inh->acc = inh->def = NULL;
}
