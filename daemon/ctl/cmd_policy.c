/*
 * Control commands on a file's or directory's page-size policy.  The text
 * and its rules are meta/policy_text.c's, shared with the user.gmemfs.pagesize
 * xattr; permissions are the xattr's: read to get, write to set.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ctl/cmd.h"
#include "meta/policy_text.h"

int gm_ctl_cmd_policy_get(struct gm_ctl_req *r)
{
	struct gm_inode *inode;
	int err;

	err = gm_ctl_resolve_may(r, R_OK, &inode);
	if (err)
		return err;
	if (nla_put_string(r->reply, GMEMFS_CTL_A_POLICY, gm_policy_get_text(r->fs, inode)) < 0)
		err = gm_ctl_fail(r, -EMSGSIZE, "reply too long");
	gm_fs_put(r->fs, inode);
	return err;
}

int gm_ctl_cmd_policy_set(struct gm_ctl_req *r)
{
	const char *value = nla_get_string(r->m.tb[GMEMFS_CTL_A_POLICY]);
	struct gm_inode *inode;
	int err;

	err = gm_ctl_resolve_may(r, W_OK, &inode);
	if (err)
		return err;
	err = gm_policy_set_text(r->fs, inode, value, strlen(value));
	if (err == -EINVAL)
		gm_ctl_fail(r, err, "'%s' is not a page-size policy", value);
	else if (err == -EBUSY)
		gm_ctl_fail(r, err, "the file holds data or is open");
	else if (err)
		gm_ctl_fail(r, err, "policy not changed");
	gm_fs_put(r->fs, inode);
	return err;
}
