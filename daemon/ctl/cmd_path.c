/*
 * Names and permissions for control requests: a request names a file by
 * its path relative to the mount root, walked here through the daemon's
 * own dentry table (no FUSE round trip, no kernel lookup counts), and may
 * act on it only as the file's mode and access ACL allow the requester,
 * the way the kernel's default_permissions check does for the mount.
 *
 * Not for: what a command then does (cmd_<area>.c).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "meta/acl.h"
#include "ctl/cmd.h"
#include "meta/iflags.h"
#include "meta/namespace.h"

static const char *gm_ctl_mask_name(int mask)
{
	switch (mask) {
	case R_OK: return "read";
	case W_OK: return "write";
	case X_OK: return "search";
	case R_OK | W_OK: return "read and write";
	case R_OK | X_OK: return "read and search";
	default: return "access";
	}
}

int gm_ctl_require(struct gm_ctl_req *r, struct gm_inode *inode, int mask)
{
	if (gm_may(r->cred, inode, mask))
		return 0;
	return gm_ctl_fail(r, -EACCES, "uid %u gid %u may not %s file %llu",
			   (unsigned)r->cred->uid, (unsigned)r->cred->gid,
			   gm_ctl_mask_name(mask), (unsigned long long)inode->ino);
}

int gm_ctl_require_shim_owner(struct gm_ctl_req *r, struct gm_inode *inode)
{
	bool shim;
	uid_t owner;

	pthread_mutex_lock(&inode->lock);
	shim = inode->pi && inode->pi->prov->id == GMEMFS_PROV_SHIM;
	owner = inode->uid;
	pthread_mutex_unlock(&inode->lock);
	if (!shim || !r->cred->uid || r->cred->uid == owner)
		return 0;
	return gm_ctl_fail(r, -EPERM, "uid %u is not the owner (uid %u) of shim file %llu: "
			   "its memory may hold private ranges", (unsigned)r->cred->uid,
			   (unsigned)owner, (unsigned long long)inode->ino);
}

/* The next component of *p (advanced past it) into name; 0 at the end,
 * 1 for a component, -errno for one that may not be walked. */
static int gm_ctl_next_name(struct gm_ctl_req *r, const char **p, char name[NAME_MAX + 1])
{
	const char *s = *p, *e;
	size_t n;

	for (;;) {
		while (*s == '/')
			s++;
		if (!*s)
			return 0;
		e = strchrnul(s, '/');
		n = e - s;
		*p = e;
		if (n == 1 && s[0] == '.') {
			s = e;
			continue;
		}
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return gm_ctl_fail(r, -EINVAL, "'..' is not allowed: name files "
					   "by their path below the mount root");
		if (n > NAME_MAX)
			return gm_ctl_fail(r, -ENAMETOOLONG, "a component is %zu bytes long, "
					   "at most %d allowed", n, NAME_MAX);
		memcpy(name, s, n);
		name[n] = '\0';
		return gm_ns_check_name(name) ? gm_ctl_fail(r, -EINVAL, "bad name") : 1;
	}
}

/* One step of the walk: dir's child name, with a reference.  dir is put. */
static int gm_ctl_step(struct gm_ctl_req *r, struct gm_inode **cur, const char *name)
{
	struct gm_inode *dir = *cur, *next;
	int err;

	if (dir->type != S_IFDIR)
		return gm_ctl_fail(r, -ENOTDIR, "'%s' is below a file, not a directory", name);
	err = gm_ctl_require(r, dir, X_OK);
	if (err)
		return err;
	next = gm_dentry_lookup(&r->fs->it, dir->ino, name);
	if (!next)
		return gm_ctl_fail(r, -ENOENT, "no file or directory '%s'", name);
	gm_fs_put(r->fs, dir);
	*cur = next;
	return 0;
}

int gm_ctl_resolve(struct gm_ctl_req *r, struct gm_inode **out)
{
	const char *p = r->path;
	char name[NAME_MAX + 1];
	struct gm_inode *cur;
	int err;

	*out = NULL;
	if (*p == '/')
		return gm_ctl_fail(r, -EINVAL, "absolute path: name files by their path "
				   "below the mount root");
	/* The whole path first: a '..' is refused wherever it is, not only
	 * once the walk reaches it. */
	while ((err = gm_ctl_next_name(r, &p, name)) > 0)
		;
	if (err)
		return err;
	p = r->path;
	cur = r->fs->root;
	gm_inode_ref(cur, 1);
	while ((err = gm_ctl_next_name(r, &p, name)) > 0) {
		err = gm_ctl_step(r, &cur, name);
		if (err)
			break;
	}
	if (!err && cur->is_virtual)
		err = gm_ctl_fail(r, -EPERM, "a read-only view of the daemon, not guest memory");
	if (err) {
		gm_fs_put(r->fs, cur);
		return err;
	}
	*out = cur;
	return 0;
}

int gm_ctl_resolve_may(struct gm_ctl_req *r, int mask, struct gm_inode **out)
{
	int err = gm_ctl_resolve(r, out);

	if (!err && mask)
		err = gm_ctl_require(r, *out, mask);
	if (err && *out) {
		gm_fs_put(r->fs, *out);
		*out = NULL;
	}
	return err;
}
