/*
 * What a regular file's backing says about it (mem/file_info.h).
 */
#include <errno.h>
#include <sys/stat.h>

#include "mem/backing.h"
#include "mem/file_info.h"
#include "prov/shim.h"

/* Does the module hold the file's memory out of the direct map?  The
 * module's answer, not the policy's: the two can only differ after a
 * journal and the module disagree (meta/recover.c says so). */
static bool gm_file_secret_locked(struct gm_inode *inode)
{
	bool secret = false;

	return !gm_shim_file_secret(inode->ino, &secret) && secret;
}

bool gm_file_secret(struct gm_inode *inode)
{
	bool secret;

	pthread_mutex_lock(&inode->lock);
	secret = inode->pi && inode->pi->prov->id == GMEMFS_PROV_SHIM &&
		 gm_file_secret_locked(inode);
	pthread_mutex_unlock(&inode->lock);
	return secret;
}

int gm_file_info(struct gm_fs *fs, struct gm_inode *inode, struct gmemfs_info *out)
{
	struct stat st;
	int err;

	pthread_mutex_lock(&inode->lock);
	err = gm_backing_stat(inode, &st);
	if (!err && !inode->pi)
		err = -ENODEV;		/* no store holds it: nothing to report */
	if (!err) {
		out->provider = inode->pi->prov->id;
		out->page_size = inode->pi->prov->page_size;
		out->id = inode->ino;
		out->size = st.st_size;
		out->populated = (uint64_t)st.st_blocks * 512;
		out->flags = (fs->passthrough && inode->pi->prov->passthrough ?
			      GMEMFS_INFO_PASSTHROUGH : 0) |
			     (inode->nlink == 0 ? GMEMFS_INFO_UNLINKED : 0);
		if (out->provider == GMEMFS_PROV_SHIM && gm_file_secret_locked(inode))
			out->flags |= GMEMFS_INFO_SECRET;
	}
	pthread_mutex_unlock(&inode->lock);
	return err;
}
