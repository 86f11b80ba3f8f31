/*
 * What a regular file's backing says about it (mem/file_info.h).
 */
#include <errno.h>
#include <sys/stat.h>

#include "mem/backing.h"
#include "mem/file_info.h"

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
	}
	pthread_mutex_unlock(&inode->lock);
	return err;
}
