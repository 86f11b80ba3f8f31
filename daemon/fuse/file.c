/*
 * FUSE operations on open files.  open and create answer with FUSE
 * passthrough to the file's backing object, so read, write and mmap never
 * come back here; the kernel insists on one backing per inode, so the
 * passthrough id is registered at the first passthrough open and kept
 * after the last release (below, "kept ids").  read/write below serve a kernel without passthrough,
 * and the files of providers passthrough refuses (hugetlb: ELOOP,
 * kvm-gmem: EINVAL); they are counted so tests can prove they are not used
 * otherwise.  Those files are opened with FOPEN_DIRECT_IO, and the daemon
 * never offers FUSE_DIRECT_IO_ALLOW_MMAP, so a shared mmap of one through
 * the mount fails with ENODEV instead of mapping a copy: a VMM gets their
 * memory as an fd from the control socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_kernel.h>

#include "mem/backing.h"
#include "mem/file_info.h"
#include "fuse/fsops.h"
#include "meta/iflags.h"
#include "core/log.h"
#include "meta/namespace.h"

/* An open the daemon serves: no page cache (the memory is the backing's)
 * and no shared mmap.  The log names the way that works, once per file
 * opening (not per open, which a loop of cat would flood). */
static void gm_file_open_direct(struct gm_fs *fs, struct gm_inode *inode,
				struct fuse_file_info *fi)
{
	fi->direct_io = 1;
	if (fs->passthrough && inode->nopen == 0)
		gm_info("file %llu: %s files are served without passthrough: read() and "
			"write() work through the mount, mmap(MAP_SHARED) fails with ENODEV; "
			"map the fd the control socket hands out (gmemctl open-exec)",
			(unsigned long long)inode->ino, inode->pi->prov->name);
}

/*
 * Kept ids.  Registering a backing (FUSE_DEV_IOC_BACKING_OPEN) and closing
 * it again cost two ioctls per open/close cycle, so the last release keeps
 * the id registered: the kernel's table holds the backing file, and the
 * next open names the same id (one fuse_backing per inode, as the kernel
 * requires while any open is live).  A kept id must never outlive the
 * backing it names:
 * - a file moves to another provider only while empty and unopened
 *   (mem/backing.c), so the last release keeps the id only for a file
 *   that holds something, a truncate to 0 through the mount drops it, and
 *   an open that finds a kept id on an empty file registers anew;
 * - eviction (an unlinked file's last reference) drops it before the
 *   backing goes: a kept id would hold the memory (gm_file_evict).
 * At most GM_KEPT_MAX ids are kept, each pinning one struct file in the
 * kernel; past that the last release closes the id as before.
 * backing_id and nopen are under inode->lock; kept is the count of ids
 * registered with nopen == 0.
 */
#define GM_KEPT_MAX 4096
static atomic_uint kept;

/* Close inode's registered id.  inode->lock held. */
static void gm_file_backing_close(struct gm_fs *fs, struct gm_inode *inode)
{
	uint32_t id = (uint32_t)inode->backing_id;

	if (inode->backing_id <= 0)
		return;
	if (fs->se && fuse_session_fd(fs->se) >= 0 &&
	    ioctl(fuse_session_fd(fs->se), FUSE_DEV_IOC_BACKING_CLOSE, &id))
		gm_warn("file %llu: closing its passthrough backing id %u: %s",
			(unsigned long long)inode->ino, id, strerror(errno));
	inode->backing_id = -1;
	if (inode->nopen == 0)
		atomic_fetch_sub(&kept, 1);
}

/* Close inode's kept id, if no open uses it.  inode->lock held. */
static void gm_file_backing_drop(struct gm_fs *fs, struct gm_inode *inode)
{
	if (inode->nopen == 0)
		gm_file_backing_close(fs, inode);
}

/* Nothing in the backing: it may have moved since the id was kept, or
 * may move after this release.  inode->lock held. */
static bool gm_file_backing_empty(struct gm_inode *inode)
{
	struct stat st;

	return gm_backing_stat_size(inode, &st) || (st.st_size == 0 && st.st_blocks == 0);
}

void gm_file_backing_settle(struct gm_fs *fs, struct gm_inode *inode)
{
	pthread_mutex_lock(&inode->lock);
	if (inode->nopen == 0 && inode->backing_id > 0 && gm_file_backing_empty(inode))
		gm_file_backing_close(fs, inode);
	pthread_mutex_unlock(&inode->lock);
}

void gm_file_evict(struct gm_itable *it, struct gm_inode *inode)
{
	struct gm_fs *fs = it->owner;

	if (fs && fs->se && inode->type == S_IFREG && !inode->is_virtual) {
		pthread_mutex_lock(&inode->lock);
		gm_file_backing_drop(fs, inode);
		pthread_mutex_unlock(&inode->lock);
	}
	gm_backing_evict(it, inode);
}

/* The passthrough id for another open of inode: the kept one, or a new
 * registration.  inode->lock held. */
static int gm_file_backing_id(fuse_req_t req, struct gm_fs *fs, struct gm_inode *inode)
{
	int id;

	if (inode->backing_id > 0 && inode->nopen == 0) {
		if (!gm_file_backing_empty(inode)) {
			atomic_fetch_sub(&kept, 1);	/* in use again */
			return 0;
		}
		gm_file_backing_close(fs, inode);
	}
	if (inode->backing_id > 0)
		return 0;
	id = fuse_passthrough_open(req, gm_backing_fd_held(inode));
	if (id <= 0) {
		gm_err("file %llu: registering its backing for passthrough failed",
		       (unsigned long long)inode->ino);
		return -EIO;
	}
	inode->backing_id = id;
	return 0;
}

/* Register the passthrough backing for another open of inode. */
static int gm_file_open_backing(fuse_req_t req, struct gm_fs *fs, struct gm_inode *inode,
				struct fuse_file_info *fi)
{
	int err;

	pthread_mutex_lock(&inode->lock);
	err = gm_backing_fd_get(inode);		/* the open's use, put at release */
	if (err < 0)
		goto out_unlock;
	err = 0;
	if (!inode->pi->prov->passthrough)
		gm_file_open_direct(fs, inode, fi);
	else if (fs->passthrough)
		err = gm_file_backing_id(req, fs, inode);
	if (err) {
		gm_backing_fd_put(inode);
		goto out_unlock;
	}
	inode->nopen++;
	if (fs->passthrough && inode->pi->prov->passthrough)
		fi->backing_id = inode->backing_id;
	fi->keep_cache = 0;	/* with a backing id the kernel fails the open */
	fi->noflush = 1;	/* no FLUSH round trip on every close(): nothing to flush */
	fi->fh = 0;
out_unlock:
	pthread_mutex_unlock(&inode->lock);
	return err;
}

void gm_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);	/* kept by the open file */
	int err;

	gm_count(fs, GM_OP_OPEN);
	if (inode->is_virtual) {
		err = gm_view_open(req, inode, fi);
	} else {
		/* libfuse negotiates atomic O_TRUNC: the kernel leaves the
		 * truncation of an existing file to this open. */
		err = gm_iflags_may_open(gm_inode_iflags(inode), fi->flags) ? 0 : -EPERM;
		if (!err && fi->flags & O_TRUNC)
			err = gm_file_set_size(fs, inode, 0);
		if (!err)
			err = gm_file_open_backing(req, fs, inode, fi);
	}
	if (err) {
		gm_fs_put(fs, inode);
		return gm_reply_err(req, err);
	}
	fuse_reply_open(req, fi);
}

/* Open a new file's backing and answer CREATE or TMPFILE with it. */
static void gm_reply_created(fuse_req_t req, struct gm_inode *inode, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct fuse_entry_param e;
	int err;

	err = gm_file_open_backing(req, fs, inode, fi);
	if (err) {
		gm_fs_put(fs, inode);	/* a name stays; only the open failed */
		return gm_reply_err(req, err);
	}
	gm_inode_ref(inode, 1);			/* the open file's */
	gm_fill_entry(fs, inode, &e);
	fuse_reply_create(req, &e, fi);
}

void gm_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi)
{
	struct gm_new_args a = { .name = name, .mode = mode };
	struct gm_inode *inode;
	int err;

	gm_count(gm_req_fs(req), GM_OP_CREATE);
	err = gm_fsops_new(req, parent, &a, &inode);
	if (err)
		return gm_reply_err(req, err);
	gm_reply_created(req, inode, fi);
}

/* O_TMPFILE: a file with memory and no name until linkat() gives it one. */
void gm_op_tmpfile(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *dir = gm_fs_inode(fs, parent);
	struct gm_new_args a = { .mode = S_IFREG | (mode & 07777) };
	struct gm_acl_inh inh;
	struct gm_inode *inode;
	int err;

	gm_count(fs, GM_OP_TMPFILE);
	gm_fsops_owner(req, dir, &a, &inh);
	err = gm_ns_tmpfile(fs, dir, &a, &inode);
	gm_acl_inherit_done(&inh);
	gm_fs_put(fs, dir);
	if (err)
		return gm_reply_err(req, err);
	gm_backing_make_room(fs, inode);
	gm_reply_created(req, inode, fi);
}

void gm_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode_held(fs, ino);

	gm_count(fs, GM_OP_RELEASE);
	if (inode->is_virtual) {
		gm_view_release(fi);
	} else {
		pthread_mutex_lock(&inode->lock);
		if (--inode->nopen == 0) {
			pthread_cond_broadcast(&inode->released);
			if (inode->backing_id > 0 &&
			    (atomic_fetch_add(&kept, 1) >= GM_KEPT_MAX ||
			     gm_file_backing_empty(inode)))
				gm_file_backing_close(fs, inode);
		}
		gm_backing_fd_put(inode);
		pthread_mutex_unlock(&inode->lock);
	}
	/* An unlinked file's memory goes with this last reference. */
	gm_fs_put(fs, inode);
	fuse_reply_err(req, 0);
}

/*
 * Read through the daemon: all of [off, off + size) up to the end of the
 * file, or an error.  Never a short count before the end: FUSE takes one
 * as the end of the file and shows the reader zeros for the rest (a shim
 * file in ask mode can fail part way, at a corrupt unit).
 */
static void gm_file_read_direct(fuse_req_t req, struct gm_inode *inode, size_t size,
				off_t off)
{
	char *data = malloc(size ? size : 1);
	size_t got = 0;
	ssize_t n = 0;

	if (!data)
		return gm_reply_err(req, -ENOMEM);
	while (got < size) {
		n = gm_backing_read(inode, data + got, size - got, off + (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (n < 0)
		gm_reply_err(req, (int)n);
	else
		fuse_reply_buf(req, data, got);
	free(data);
}

void gm_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode_held(fs, ino);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	if (inode->is_virtual)
		return gm_view_read(req, fi, size, off);
	gm_count(fs, GM_OP_READ);
	/* A shim file's read may fail part way: never spliced short. */
	if (!inode->pi->prov->passthrough || inode->pi->prov->id == GMEMFS_PROV_SHIM)
		return gm_file_read_direct(req, inode, size, off);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = gm_backing_fd_held(inode);
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void gm_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode_held(fs, ino);
	ssize_t n;

	(void)fi;
	gm_count(fs, GM_OP_WRITE);
	if (inode->is_virtual)
		return gm_reply_err(req, -EACCES);
	if (!inode->pi->prov->passthrough)
		n = gm_backing_write(fs, inode, buf, size, off);
	else if ((n = pwrite(gm_backing_fd_held(inode), buf, size, off)) < 0)
		n = -errno;
	if (n < 0)
		return gm_reply_err(req, (int)n);
	fuse_reply_write(req, (size_t)n);
}

void gm_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	gm_count(gm_req_fs(req), GM_OP_FLUSH);
	fuse_reply_err(req, 0);
}

void gm_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	int err = 0;

	(void)fi;
	gm_count(fs, GM_OP_FSYNC);
	/* Memory has no stable storage: the backing's fsync is the truth
	 * (a no-op on tmpfs), and the journal is written synchronously. */
	if (inode->type == S_IFREG && !inode->is_virtual &&
	    (datasync ? fdatasync(gm_backing_fd_held(inode)) :
		      fsync(gm_backing_fd_held(inode))))
		err = -errno;
	gm_fs_put(fs, inode);
	gm_reply_err(req, err);
}

static int gm_file_fallocate(struct gm_fs *fs, struct gm_inode *inode, int mode,
			     off_t offset, off_t length)
{
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if (inode->type != S_IFREG || inode->is_virtual)
		return -ENODEV;
	if (gm_iflags_check_fallocate(inode, mode))
		return -EPERM;
	return gm_backing_fallocate(fs, inode, mode, (uint64_t)offset, (uint64_t)length);
}

void gm_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		     struct fuse_file_info *fi)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	int err;

	(void)fi;
	gm_count(fs, GM_OP_FALLOCATE);
	err = gm_file_fallocate(fs, inode, mode, offset, length);
	gm_fs_put(fs, inode);
	gm_reply_err(req, err);
}

static bool gm_info_in_valid(const struct gmemfs_info *in)
{
	if (in->in_flags || in->__pad)
		return false;
	for (unsigned i = 0; i < sizeof(in->reserved) / sizeof(in->reserved[0]); i++) {
		if (in->reserved[i])
			return false;
	}
	return true;
}

void gm_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		 struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		 size_t in_bufsz, size_t out_bufsz)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *inode = gm_fs_inode(fs, ino);
	struct gmemfs_info info = { 0 };
	int err;

	(void)arg;
	(void)fi;
	(void)flags;
	gm_count(fs, GM_OP_IOCTL);
	if (!inode->is_virtual && gm_iflags_is_ioctl(cmd)) {
		gm_ioctl_iflags(req, inode, cmd, in_buf, in_bufsz, out_bufsz);
		return gm_fs_put(fs, inode);
	}
	err = -ENOTTY;
	if (cmd != GMEMFS_IOC_INFO || inode->type != S_IFREG || inode->is_virtual)
		goto out;
	err = -EINVAL;
	if (in_bufsz != sizeof(info) || out_bufsz != sizeof(info))
		goto out;
	memcpy(&info, in_buf, sizeof(info));
	if (!gm_info_in_valid(&info)) {
		gm_info("file %llu: GMEMFS_IOC_INFO with nonzero in_flags or reserved "
			"fields refused", (unsigned long long)inode->ino);
		goto out;
	}
	err = gm_file_info(fs, inode, &info);
out:
	gm_fs_put(fs, inode);
	if (err)
		return gm_reply_err(req, err);
	fuse_reply_ioctl(req, 0, &info, sizeof(info));
}

/* -EXDEV makes the kernel copy through splice itself (the providers the
 * daemon serves, the views); -EOPNOTSUPP would turn the op off for good. */
static ssize_t gm_file_copy(struct gm_inode *in, off_t off_in, struct gm_inode *out,
			    off_t off_out, size_t len)
{
	loff_t i = off_in, o = off_out;
	ssize_t n;

	if (in->is_virtual || out->is_virtual || !in->pi->prov->passthrough ||
	    !out->pi->prov->passthrough)
		return -EXDEV;
	if (gm_inode_iflags(out) & FS_IMMUTABLE_FL)
		return -EPERM;
	n = copy_file_range(gm_backing_fd_held(in), &i, gm_backing_fd_held(out), &o, len, 0);
	return n < 0 ? -errno : n;
}

void gm_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			   struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct gm_fs *fs = gm_req_fs(req);
	struct gm_inode *in = gm_fs_inode_held(fs, ino_in);
	struct gm_inode *out = gm_fs_inode_held(fs, ino_out);
	ssize_t n;

	(void)fi_in;
	(void)fi_out;
	gm_count(fs, GM_OP_COPY_FILE_RANGE);
	n = flags ? -EINVAL : gm_file_copy(in, off_in, out, off_out, len);
	if (n < 0)
		return gm_reply_err(req, (int)n);
	fuse_reply_write(req, (size_t)n);
}
