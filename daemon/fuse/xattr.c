/*
 * FUSE extended-attribute operations.  user.gmemfs.pagesize is the page-size
 * policy (a view of inode->policy, changed through meta/namespace.c); other
 * user.* and trusted.* attributes are stored and journaled as given (the
 * kernel lets only CAP_SYS_ADMIN near trusted.*), and so are the POSIX
 * ACLs, through acl.c; the security namespace and the rest of system
 * are not supported.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/limits.h>	/* XATTR_NAME_MAX */
#include <sys/xattr.h>

#include "meta/acl.h"
#include "fuse/fsops.h"
#include "gmemfs_ctl.h"
#include "core/log.h"
#include "meta/namespace.h"
#include "meta/policy_text.h"
#include "meta/recover.h"

#define GM_XATTR_USER "user."
#define GM_XATTR_TRUSTED "trusted."

/* A stored namespace, and a name beyond its prefix. */
static bool gm_xattr_stored(const char *name, size_t len)
{
	static const char *const prefixes[] = { GM_XATTR_USER, GM_XATTR_TRUSTED };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);

		if (!strncmp(name, prefixes[i], n) && len > n)
			return true;
	}
	return false;
}

/* Classify a name: 1 = our policy xattr, 2 = the control socket's path
 * (read-only, on the root), 3 and 4 = the access and default ACL
 * (acl.c), 0 = a plain user xattr, or a negative errno for names we
 * do not take. */
static int gm_xattr_kind(struct gm_inode *inode, const char *name)
{
	size_t len = strlen(name);

	if (len > XATTR_NAME_MAX)
		return -ERANGE;
	if (!strcmp(name, GMEMFS_XATTR_PAGESIZE))
		return 1;
	if (!strcmp(name, GMEMFS_XATTR_CTL_SOCKET))
		return 2;
	if (!strcmp(name, GM_ACL_ACCESS))
		return 3;
	if (!strcmp(name, GM_ACL_DEFAULT))
		return 4;
	if (!strncmp(name, GMEMFS_XATTR_PREFIX, strlen(GMEMFS_XATTR_PREFIX))) {
		gm_info("file %llu: xattr %s refused: not a gmemfs attribute",
			(unsigned long long)inode->ino, name);
		return -EINVAL;
	}
	if (gm_xattr_stored(name, len))
		return 0;
	if (!strcmp(name, GM_XATTR_USER) || !strcmp(name, GM_XATTR_TRUSTED))
		return -EINVAL;
	if (!strchr(name, '.') || name[0] == '.')
		return -EINVAL;
	return -EOPNOTSUPP;
}

/* Only memory has a page-size policy: not the views, not symlinks, fifos,
 * sockets or device nodes. */
static bool gm_xattr_has_policy(const struct gm_inode *inode)
{
	return !inode->is_virtual && (inode->type == S_IFREG || inode->type == S_IFDIR);
}

/* listxattr names the policy only where it says something: a directory's
 * own setting, or a file's policy when it is not the mount's default.
 * Tools that copy or compare xattrs (cp -a, rsync -X) then carry a policy
 * somebody chose and see no attribute on files nobody touched.  Reading
 * and setting it by name works everywhere.  inode->lock held. */
static bool gm_xattr_lists_policy(struct gm_fs *fs, const struct gm_inode *inode)
{
	if (!gm_xattr_has_policy(inode))
		return false;
	if (inode->type == S_IFDIR)
		return inode->policy != GM_PS_INHERIT;
	return inode->policy != fs->opts->pagesize;
}

void gm_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	int kind, err;

	gm_count(fs, GM_OP_SETXATTR);
	kind = gm_xattr_kind(inode, name);
	err = kind < 0 ? kind : 0;
	if (!err && (inode->is_virtual || kind == 2))
		err = -EPERM;
	else if (!err && flags & ~(XATTR_CREATE | XATTR_REPLACE))
		err = -EINVAL;
	else if (!err && kind == 1)
		/* Every inode has a policy: there is nothing to create. */
		err = flags & XATTR_CREATE ? -EEXIST : gm_policy_set_text(fs, inode, value, size);
	else if (!err && (kind == 3 || kind == 4))
		err = gm_acl_setxattr(req, inode, kind == 4, value, size, flags);
	else if (!err)
		err = size > GM_J_VALUE_MAX ? -E2BIG :
		      gm_ns_xattr_set(fs, inode, name, value, size, flags);
	gm_fs_put(fs, inode);
	gm_reply_err(req, err);
	if (!err)
		gm_fs_maybe_compact(fs);	/* after the reply: not on its latency */
}

/* Copy value out, or its size when asked with size 0. */
static void gm_reply_xattr_value(fuse_req_t req, const void *value, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

void gm_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	int kind = gm_xattr_kind(inode, name);
	struct gm_xattr *x;
	const char *pol;

	gm_count(fs, GM_OP_GETXATTR);
	if (kind < 0 || inode->is_virtual || (kind == 1 && !gm_xattr_has_policy(inode))) {
		gm_fs_put(fs, inode);
		return gm_reply_err(req, kind == -ERANGE ? kind : -ENODATA);
	}
	if (kind == 1 || kind == 2) {
		pol = kind == 1 ? gm_policy_get_text(fs, inode) :
		      inode == fs->root ? fs->opts->ctl_socket : NULL;
		gm_fs_put(fs, inode);
		if (!pol)
			return gm_reply_err(req, -ENODATA);
		return gm_reply_xattr_value(req, pol, strlen(pol), size);
	}
	pthread_mutex_lock(&inode->lock);
	x = *gm_xattr_slot(inode, name);
	if (x)
		gm_reply_xattr_value(req, x->value, x->len, size);
	else
		fuse_reply_err(req, ENODATA);
	pthread_mutex_unlock(&inode->lock);
	gm_fs_put(fs, inode);
}

/* Whether a caller may see a stored name in a listing: trusted.* only for
 * root, as local filesystems list it. */
static bool gm_xattr_visible(const struct gm_xattr *x, uid_t uid)
{
	return uid == 0 || strncmp(x->name, GM_XATTR_TRUSTED, strlen(GM_XATTR_TRUSTED));
}

/* The NUL-separated names of inode's attributes uid may see, in a buffer
 * sized for all of them; *len is what it holds.  inode->lock held. */
static char *gm_xattr_names(struct gm_fs *fs, struct gm_inode *inode, uid_t uid, size_t *len)
{
	size_t cap = sizeof(GMEMFS_XATTR_PAGESIZE);
	char *buf;

	for (struct gm_xattr *x = inode->xattrs; x; x = x->next)
		cap += strlen(x->name) + 1;
	buf = malloc(cap);
	*len = 0;
	if (buf && gm_xattr_lists_policy(fs, inode)) {
		memcpy(buf, GMEMFS_XATTR_PAGESIZE, sizeof(GMEMFS_XATTR_PAGESIZE));
		*len = sizeof(GMEMFS_XATTR_PAGESIZE);
	}
	for (struct gm_xattr *x = inode->xattrs; buf && x; x = x->next) {
		if (!gm_xattr_visible(x, uid))
			continue;
		memcpy(buf + *len, x->name, strlen(x->name) + 1);
		*len += strlen(x->name) + 1;
	}
	return buf;
}

void gm_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	size_t len;
	char *buf;

	gm_count(fs, GM_OP_LISTXATTR);
	pthread_mutex_lock(&inode->lock);
	buf = gm_xattr_names(fs, inode, fuse_req_ctx(req)->uid, &len);
	pthread_mutex_unlock(&inode->lock);
	gm_fs_put(fs, inode);
	if (!buf)
		return gm_reply_err(req, -ENOMEM);
	gm_reply_xattr_value(req, buf, len, size);
	free(buf);
}

void gm_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	int kind = gm_xattr_kind(inode, name);
	int err = kind < 0 ? kind : 0;

	gm_count(fs, GM_OP_REMOVEXATTR);
	if (!err && (inode->is_virtual || kind == 2))
		err = -EPERM;
	else if (!err && kind == 1 && inode->type == S_IFDIR)
		err = gm_ns_set_policy(fs, inode, GM_PS_INHERIT);
	else if (!err && kind == 1)
		err = -EINVAL;	/* a file's policy can be changed, not removed */
	else if (!err)
		err = gm_ns_xattr_del(fs, inode, name);
	gm_fs_put(fs, inode);
	gm_reply_err(req, err);
}
