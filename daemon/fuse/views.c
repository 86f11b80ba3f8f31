/*
 * The read-only views under MOUNT/.gmemfs.  Each open takes a snapshot
 * (so a reader sees one consistent document however it splits its reads),
 * served with direct_io because the size is only known at open.
 * Snapshots are also kept on a list, so that those whose RELEASE never
 * comes (a reader still holding the file when the mount goes) are freed at
 * teardown (gm_ctl_release_all).
 * Not for: what the views say (stats.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/cmd.h"
#include "fuse/fsops.h"
#include "core/log.h"

struct gm_ctl_snap {
	size_t len;
	char *data;
	struct cds_list_head link;	/* gm_ctl_snaps.list; under its lock */
};

/* Open snapshots, for teardown.  One mount per daemon: process-wide. */
static struct {
	pthread_mutex_t lock;
	struct cds_list_head list;
} gm_ctl_snaps = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.list = CDS_LIST_HEAD_INIT(gm_ctl_snaps.list),
};

static void gm_ctl_snap_free(struct gm_ctl_snap *snap)
{
	free(snap->data);
	free(snap);
}

int gm_ctl_open(fuse_req_t req, struct gm_inode *inode, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	gid_t groups[GM_REQ_GROUPS];
	struct gm_ctl_cred reader;
	struct gm_ctl_snap *snap;

	if (inode != fs->stats_file)
		return -EISDIR;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || fi->flags & O_TRUNC)
		return -EACCES;		/* even for root: it is a view */
	snap = calloc(1, sizeof(*snap));
	if (!snap)
		return -ENOMEM;
	gm_req_cred(req, &reader, groups);
	snap->data = gm_stats_json(fs, &reader, &snap->len);
	if (!snap->data) {
		free(snap);
		return -ENOMEM;
	}
	pthread_mutex_lock(&gm_ctl_snaps.lock);
	cds_list_add(&snap->link, &gm_ctl_snaps.list);
	pthread_mutex_unlock(&gm_ctl_snaps.lock);
	fi->fh = (uintptr_t)snap;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

void gm_ctl_read(fuse_req_t req, struct fuse_file_info *fi, size_t size, off_t off)
{
	struct gm_ctl_snap *snap = (struct gm_ctl_snap *)(uintptr_t)fi->fh;
	char *copy;

	if (!snap || off < 0 || (size_t)off >= snap->len)
		return (void)fuse_reply_buf(req, NULL, 0);
	if (size > snap->len - off)
		size = snap->len - off;
	/* Reply from a copy: once the reply reaches the kernel, the reader
	 * may close and its RELEASE free snap on another worker while this
	 * one is still returning from writev. */
	copy = malloc(size);
	if (!copy)
		return (void)fuse_reply_err(req, ENOMEM);
	memcpy(copy, snap->data + off, size);
	fuse_reply_buf(req, copy, size);
	free(copy);
}

void gm_ctl_release(struct fuse_file_info *fi)
{
	struct gm_ctl_snap *snap = (struct gm_ctl_snap *)(uintptr_t)fi->fh;

	if (!snap)
		return;
	pthread_mutex_lock(&gm_ctl_snaps.lock);
	cds_list_del(&snap->link);
	pthread_mutex_unlock(&gm_ctl_snaps.lock);
	gm_ctl_snap_free(snap);
}

void gm_ctl_release_all(void)
{
	struct gm_ctl_snap *snap, *tmp;
	unsigned n = 0;

	pthread_mutex_lock(&gm_ctl_snaps.lock);
	cds_list_for_each_entry_safe(snap, tmp, &gm_ctl_snaps.list, link) {
		cds_list_del(&snap->link);
		gm_ctl_snap_free(snap);
		n++;
	}
	pthread_mutex_unlock(&gm_ctl_snaps.lock);
	if (n)
		gm_info("freed %u %s/%s snapshot(s) still open at unmount", n,
			GMEMFS_CTL_DIR, GMEMFS_STATS_FILE);
}
