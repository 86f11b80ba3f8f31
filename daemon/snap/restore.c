/*
 * Eager restore (see restore.h).  The snapshot is read a window of
 * whole chunks at a time; runs of non-zero pages go to the file through
 * gm_backing_write, which takes the provider's own path where the kernel
 * offers no write() (hugetlb, an attached guest_memfd), so zero pages are
 * never allocated.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuse/fsops.h"
#include "mem/backing.h"
#include "common/clock.h"
#include "core/log.h"
#include "snap/restore.h"
#include "meta/private.h"
#include "mem/file_info.h"
#include "mem/handout.h"
#include "prov/shim.h"
#include "prov/prov.h"

#define RESTORE_WINDOW		(4u << 20)

struct snap_r {
	const struct gm_snap_restore_req *req;
	struct gm_snap_stats *st;
	char *why;
	struct gm_snap s;
	struct gm_snap_reader rd;
	uint8_t *buf;
	size_t win;
	uint64_t old_size;
};

/* A secret snapshot's bytes go into secret memory only, unless the
 * request forces them out (logged either way, with the file). */
static int target_secret_check(struct snap_r *r)
{
	struct gm_inode *inode = r->req->inode;

	if (!gm_snap_secret(&r->s) || gm_file_secret(inode))
		return 0;
	if (!r->req->force)
		return gm_snap_why(r->why, "the snapshot is secret and file %llu is not (policy %s): "
			       "restore it into a shim-secret file, or force it",
			       (unsigned long long)inode->ino, gm_policy_text(inode->policy)),
		       -EPERM;
	gm_warn("restore into file %llu (policy %s): a secret snapshot forced into memory "
		"that is not secret", (unsigned long long)inode->ino,
		gm_policy_text(inode->policy));
	return 0;
}

/* The file must hold nothing and have no other size than the snapshot's;
 * private ranges need a shim file. */
static int target_check(struct snap_r *r)
{
	struct gm_inode *inode = r->req->inode;
	bool shim = false;
	struct stat st;
	int err;

	pthread_mutex_lock(&inode->lock);
	err = inode->pi ? gm_backing_stat(inode, &st) : -ENOENT;
	if (!err)
		shim = inode->pi->prov->id == GMEMFS_PROV_SHIM;
	pthread_mutex_unlock(&inode->lock);
	if (err)
		return gm_snap_why(r->why, "file %llu has no backing: %s",
			       (unsigned long long)inode->ino, strerror(-err)), err;
	if (r->s.npriv && !shim)
		return gm_snap_why(r->why, "the snapshot holds %zu private ranges and file %llu is "
			       "no shim file: only a shim file keeps memory private",
			       r->s.npriv, (unsigned long long)inode->ino), -EOPNOTSUPP;
	if (st.st_blocks)
		return gm_snap_why(r->why, "file %llu holds %" PRIu64 " bytes of memory; a restore needs one that holds none",
			       (unsigned long long)inode->ino, (uint64_t)st.st_blocks * 512), -EBUSY;
	if (st.st_size && (uint64_t)st.st_size != r->s.mem_size)
		return gm_snap_why(r->why, "file %llu is %jd bytes, the snapshot %" PRIu64 ": sizes must match (or the file be empty)",
			       (unsigned long long)inode->ino, (intmax_t)st.st_size, r->s.mem_size),
		       -EINVAL;
	r->old_size = st.st_size;
	return target_secret_check(r);
}

static int restore_run(struct snap_r *r, uint64_t off, const uint8_t *bytes, size_t len)
{
	ssize_t n;

	if (!len)
		return 0;
	n = gm_backing_write(r->req->fs, r->req->inode, bytes, len, (off_t)off);
	if (n < 0)
		return gm_snap_why(r->why, "writing %zu bytes at %#" PRIx64 ": %s", len, off,
			       strerror((int)-n)), (int)n;
	if ((size_t)n != len)
		return gm_snap_why(r->why, "writing %zu bytes at %#" PRIx64 ": only %zd written",
			       len, off, n), -EIO;
	r->st->bytes += len;
	return 0;
}

/* One window: the non-zero pages, adjacent ones in one write. */
static int restore_window(struct snap_r *r, uint64_t off, size_t len)
{
	uint32_t page = r->s.page_size;
	size_t run = 0, run_len = 0;
	bool zero;
	int err;

	err = gm_snap_read(&r->rd, off, r->buf, len, &zero, r->why);
	if (err)
		return err;
	for (size_t p = 0; p < len; p += page) {
		size_t n = len - p < page ? len - p : page;

		if (zero || gm_snap_zero(r->buf + p, n)) {
			r->st->skipped++;
			err = restore_run(r, off + run, r->buf + run, run_len);
			run_len = 0;
		} else {
			r->st->pages++;
			if (!run_len)
				run = p;
			run_len += n;
		}
		if (err)
			return err;
	}
	return restore_run(r, off + run, r->buf + run, run_len);
}

static int restore_fill(struct snap_r *r)
{
	const struct gm_snap_restore_req *req = r->req;
	uint64_t size = r->s.mem_size, reported = 0;
	int err;

	if (r->old_size != size) {
		err = gm_backing_set_size(req->fs, req->inode, size);
		if (err)
			return gm_snap_why(r->why, "sizing the file to %" PRIu64 " bytes: %s", size,
				       strerror(-err)), err;
	}
	for (uint64_t off = 0; off < size; off += r->win) {
		uint64_t end = size - off < r->win ? size : off + r->win;

		err = restore_window(r, off, end - off);
		if (err)
			return err;
		if (req->progress && (end - reported >= GM_SNAP_PROGRESS_STEP || end == size)) {
			reported = end;
			req->progress(reported, size, req->arg);
		}
	}
	return 0;
}

/* The snapshot's private ranges made private again, once the shared
 * parts are in (private pages take no writes), or shared again after a
 * failure (best effort: its reason is kept).  Their bytes are not in the
 * snapshot: the pages stay absent, zero once shared again. */
static int restore_private(struct snap_r *r, bool private)
{
	const struct gm_snap_restore_req *req = r->req;
	char why[GM_SNAP_WHY_MAX];
	int fd, err;

	if (!r->s.npriv)
		return 0;
	fd = gm_handout_open(req->fs, req->inode);
	if (fd < 0)
		return private ? gm_snap_why(r->why, "no fd on the file's shim file: %s",
					     strerror(-fd)), fd : fd;
	err = gm_shim_convert_fd(fd, r->s.priv, r->s.npriv, private, why, sizeof(why));
	close(fd);
	if (err && private)
		gm_snap_why(r->why, "%s", why);
	return err;
}

/* After a failure: no memory left in the file, nor a size it did not have.
 * The reason gets what happened appended. */
static void restore_undo(struct snap_r *r)
{
	const struct gm_snap_restore_req *req = r->req;
	uint64_t len = (r->s.mem_size + 4095) & ~4095ull;
	char cause[GM_SNAP_WHY_MAX];
	int err;

	snprintf(cause, sizeof(cause), "%s", r->why);
	err = gm_backing_fallocate(req->fs, req->inode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   0, len);
	if (!err && r->old_size != r->s.mem_size)
		err = gm_backing_set_size(req->fs, req->inode, r->old_size);
	if (err) {
		gm_snap_why(r->why, "%.100s; emptying the file failed too: %s", cause, strerror(-err));
		gm_err("restore into file %llu: %s", (unsigned long long)req->inode->ino, r->why);
	} else {
		gm_snap_why(r->why, "%.135s; file emptied", cause);
	}
}

int gm_snap_restore(const struct gm_snap_restore_req *req, struct gm_snap_stats *st,
		    char why[GM_SNAP_WHY_MAX])
{
	struct snap_r r = { .req = req, .st = st, .why = why };
	uint64_t t0 = gm_mono_ns();
	bool converting = false;
	int err;

	memset(st, 0, sizeof(*st));
	err = gm_snap_open(&r.s, req->fds, req->nfds, why);
	if (err)
		return err;
	err = target_check(&r);
	if (err)
		goto out_close;
	err = gm_snap_reader_init(&r.rd, &r.s);
	r.win = RESTORE_WINDOW > r.s.chunk_size ? RESTORE_WINDOW : r.s.chunk_size;
	r.buf = err ? NULL : malloc(r.win);
	if (!r.buf) {
		err = -ENOMEM;
		gm_snap_why(why, "out of memory for a %zu-byte window", r.win);
		goto out_fini;
	}
	err = gm_busy_add(req->inode->ino, 0, UINT64_MAX, "a restore", &r);
	if (!err)
		err = restore_fill(&r);
	if (!err) {
		converting = true;
		err = restore_private(&r, true);
	}
	if (err) {
		if (converting)
			restore_private(&r, false);
		restore_undo(&r);
	}
	gm_busy_del(&r);
	gm_fs_attr_changed(req->fs, req->inode);	/* size, blocks, times: behind FUSE */
	st->size = r.s.mem_size;
	st->extents = r.s.npieces;
	free(r.buf);
out_fini:
	gm_snap_reader_fini(&r.rd);
out_close:
	gm_snap_close(&r.s);
	st->ns = gm_mono_ns() - t0;
	return err;
}
