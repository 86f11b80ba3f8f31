/*
 * Page-size policy as text (see policy_text.h).
 */
#include <errno.h>

#include "core/log.h"
#include "meta/namespace.h"
#include "meta/policy_text.h"

int gm_policy_set_text(struct gm_fs *fs, struct gm_inode *inode, const char *value,
		       size_t size)
{
	enum gm_pagesize ps;
	const char *why;
	int err;

	err = gm_policy_parse_why(value, size, &ps, &why);
	if (err) {
		gm_info("file %llu: %s value '%.*s' refused: %s",
			(unsigned long long)inode->ino, GMEMFS_XATTR_PAGESIZE,
			(int)(size > 32 ? 32 : size), value, why);
		return err;
	}
	err = gm_ns_set_policy(fs, inode, ps);
	if (err == -EBUSY)
		gm_info("file %llu: policy change to %s refused: the file holds data, "
			"or is still open after %d s", (unsigned long long)inode->ino,
			gm_policy_text(ps), GM_NS_RELEASE_WAIT_S);
	return err;
}

const char *gm_policy_get_text(struct gm_fs *fs, struct gm_inode *inode)
{
	return gm_policy_text(inode->type == S_IFDIR ? gm_ns_dir_policy(fs, inode) :
			      inode->policy);
}
