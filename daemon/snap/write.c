/*
 * Writing snapshots (see write.h).  The memory is walked a window at
 * a time (whole chunks, so an extent never spans two windows); each page
 * is classified against the parent's content, runs of pages of one kind
 * become extents cut at chunk boundaries, and DATA runs go to the image
 * with one pwrite per stretch of adjacent bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/clock.h"
#include "core/log.h"
#include "meta/private.h"
#include "prov/shim.h"
#include "snap/source.h"
#include "snap/write.h"

#define SNAP_CHUNK_MIN		(64u << 10)
#define SNAP_WINDOW		(4u << 20)

enum page_kind {
	PAGE_SKIP = 0, PAGE_DATA = GMEMFS_SNAP_EXT_DATA, PAGE_ZERO = GMEMFS_SNAP_EXT_ZERO,
	PAGE_PRIVATE = GMEMFS_SNAP_EXT_PRIVATE,
};

struct snap_w {
	const struct gm_snap_write_req *req;
	struct gm_snap_stats *st;
	char *why;
	struct gm_snap_src src;
	struct gm_snap parent;
	struct gm_snap_reader prd;
	bool has_parent;
	struct gmemfs_snap_header h;
	struct gmemfs_snap_extent *ext;
	size_t next, cap;
	struct gmemfs_snap_extent run;		/* being built; length 0: none */
	const uint8_t *run_bytes;
	uint64_t wr_off, wr_len;		/* image bytes not yet written */
	const uint8_t *wr_bytes;
	uint8_t *buf, *pbuf;			/* a window: the file's, the parent's */
	bool *present;
	size_t win;
	struct gm_snap_range *priv;		/* the file's private ranges, sorted */
	size_t npriv;
	bool *late;				/* per window page: private, found by
						 * the read (EACCES), not the table */
	uint64_t nlate;
};

int gm_snap_check_out_fd(int fd, const char *what, char why[GM_SNAP_WHY_MAX])
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fstat(fd, &st))
		return gm_snap_why(why, "the %s fd: %s", what, strerror(errno)), -EBADF;
	if (!S_ISREG(st.st_mode))
		return gm_snap_why(why, "the %s is not a regular file", what), -EINVAL;
	if ((fl & O_ACCMODE) != O_RDWR)
		return gm_snap_why(why, "the %s is not open for reading and writing", what), -EBADF;
	if (st.st_size || st.st_blocks)
		return gm_snap_why(why, "the %s is not empty (%jd bytes): a snapshot never overwrites one",
			       what, (intmax_t)st.st_size), -EEXIST;
	return 0;
}

/* The index written over the image would leave neither. */
static int out_fds_distinct(const struct gm_snap_write_req *req, char *why)
{
	struct stat a, b;

	if (fstat(req->img_fd, &a) || fstat(req->idx_fd, &b))
		return gm_snap_why(why, "fstat: %s", strerror(errno)), -EBADF;
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return gm_snap_why(why, "the image and the index are the same file"), -EINVAL;
	return 0;
}

/* ---- Extents and the image ---- */

static int image_flush(struct snap_w *w)
{
	size_t done = 0;

	while (done < w->wr_len) {
		ssize_t n = pwrite(w->req->img_fd, w->wr_bytes + done, w->wr_len - done,
				   w->wr_off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return gm_snap_why(w->why, "writing the image at %#" PRIx64 ": %s",
				       w->wr_off + done, n < 0 ? strerror(errno) : "no progress"),
			       n < 0 && errno == ENOSPC ? -ENOSPC : -EIO;
		done += n;
	}
	w->wr_len = 0;
	return 0;
}

static int extent_push(struct snap_w *w, const struct gmemfs_snap_extent *e)
{
	if (w->next == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 256;
		struct gmemfs_snap_extent *x = realloc(w->ext, cap * sizeof(*x));

		if (!x)
			return gm_snap_why(w->why, "out of memory for %zu extents", cap), -ENOMEM;
		w->ext = x;
		w->cap = cap;
	}
	w->ext[w->next++] = *e;
	return 0;
}

/* The run ends: into the extent list and, if DATA, toward the image. */
static int run_flush(struct snap_w *w)
{
	struct gmemfs_snap_extent *r = &w->run;
	int err;

	if (!r->length)
		return 0;
	if (r->type == GMEMFS_SNAP_EXT_DATA) {
		r->crc = gm_crc32c(0, w->run_bytes, r->length);
		w->h.data_bytes += r->length;
		if (w->wr_len && w->wr_off + w->wr_len != r->offset) {
			err = image_flush(w);
			if (err)
				return err;
		}
		if (!w->wr_len) {
			w->wr_off = r->offset;
			w->wr_bytes = w->run_bytes;
		}
		w->wr_len += r->length;
	}
	err = extent_push(w, r);
	r->length = 0;
	return err;
}

static int run_add(struct snap_w *w, enum page_kind kind, uint64_t off, uint64_t len,
		   const uint8_t *bytes)
{
	struct gmemfs_snap_extent *r = &w->run;
	int err;

	if (r->length && (r->type != kind || r->offset + r->length != off ||
			  r->offset / w->h.chunk_size != off / w->h.chunk_size)) {
		err = run_flush(w);
		if (err)
			return err;
	}
	if (!r->length) {
		*r = (struct gmemfs_snap_extent){ .offset = off, .type = kind };
		w->run_bytes = bytes;
	}
	r->length += len;
	return 0;
}

/* ---- Pages ---- */

static enum page_kind page_kind(const struct snap_w *w, const uint8_t *cur, const uint8_t *par,
				size_t n, bool present, bool par_zero)
{
	bool zero = !present || gm_snap_zero(cur, n);

	if (!w->has_parent)
		return zero ? PAGE_SKIP : PAGE_DATA;
	par_zero = par_zero || gm_snap_zero(par, n);
	if (zero)
		return par_zero ? PAGE_SKIP : PAGE_ZERO;
	return !par_zero && !memcmp(cur, par, n) ? PAGE_SKIP : PAGE_DATA;
}

/* The private range at or after pos, or NULL. */
static const struct gm_snap_range *priv_from(const struct snap_w *w, uint64_t pos)
{
	for (size_t i = 0; i < w->npriv; i++)
		if (w->priv[i].off + w->priv[i].len > pos)
			return &w->priv[i];
	return NULL;
}

/* [pos, to) of the window at off, which the daemon holds shared.  A read
 * refused with EACCES has met a page the module holds private (a
 * truncate report lost, a conversion the daemon never saw): read page by
 * page then, and each refused one is private. */
static int shared_read(struct snap_w *w, uint64_t off, uint64_t pos, uint64_t to)
{
	uint32_t page = w->h.page_size;
	int err;

	err = gm_snap_src_read(&w->src, pos, w->buf + (pos - off), to - pos,
			       w->present + (pos - off) / page, w->why);
	for (uint64_t p = pos; err == -EACCES && p < to; p += page) {
		size_t n = to - p < page ? to - p : page, i = (p - off) / page;
		int e = gm_snap_src_read(&w->src, p, w->buf + (p - off), n, w->present + i,
					 w->why);

		if (e && e != -EACCES)
			return e;
		if (e && !w->nlate++)
			gm_warn("snapshot of file %llu: page at %#" PRIx64 " is private though the "
				"daemon held it shared: recorded as private",
				(unsigned long long)w->req->inode->ino, p);
		if (e) {
			memset(w->buf + (p - off), 0, n);
			w->present[i] = false;
			w->late[i] = true;
		}
	}
	return err == -EACCES ? 0 : err;
}

/* The window's memory, private ranges left unread (zero, absent): a
 * private page faults SIGBUS and reads EACCES. */
static int window_read(struct snap_w *w, uint64_t off, size_t len)
{
	uint32_t page = w->h.page_size;
	uint64_t pos = off, end = off + len;

	memset(w->late, 0, (len + page - 1) / page);
	while (pos < end) {
		const struct gm_snap_range *p = priv_from(w, pos);
		uint64_t to = p && p->off < end ? p->off : end;
		int err;

		if (to > pos) {
			err = shared_read(w, off, pos, to);
			if (err)
				return err;
			pos = to;
		}
		if (pos < end && p && p->off <= pos) {
			to = p->off + p->len < end ? p->off + p->len : end;
			memset(w->buf + (pos - off), 0, to - pos);
			memset(w->present + (pos - off) / page, 0, (to - pos + page - 1) / page);
			pos = to;
		}
	}
	return 0;
}

/* A private page is PRIVATE unless the parent has it private already; a
 * shared one over the parent's private page is written whatever it holds. */
static enum page_kind page_kind_priv(const struct snap_w *w, uint64_t off, size_t n,
				     const uint8_t *cur, bool present, bool late, enum page_kind k)
{
	bool par_priv = w->has_parent && gm_snap_private_in(&w->parent, off, n);
	const struct gm_snap_range *p = priv_from(w, off);

	if (late || (p && p->off < off + n))
		return par_priv ? PAGE_SKIP : PAGE_PRIVATE;
	if (!par_priv || k != PAGE_SKIP)
		return k;
	return !present || gm_snap_zero(cur, n) ? PAGE_ZERO : PAGE_DATA;
}

static int window_walk(struct snap_w *w, uint64_t off, size_t len)
{
	uint32_t page = w->h.page_size;
	bool par_zero = true;
	int err;

	err = window_read(w, off, len);
	if (!err && w->has_parent)
		err = gm_snap_read(&w->prd, off, w->pbuf, len, &par_zero, w->why);
	if (err)
		return err;
	for (size_t i = 0; i * page < len; i++) {
		size_t n = len - i * page < page ? len - i * page : page;
		enum page_kind k = page_kind(w, w->buf + i * page, w->pbuf + i * page, n,
					     w->present[i], par_zero);

		k = page_kind_priv(w, off + i * page, n, w->buf + i * page, w->present[i],
				   w->late[i], k);

		if (k == PAGE_DATA) {
			w->st->pages++;
			w->st->bytes += n;
		} else {
			w->st->skipped++;
		}
		err = k == PAGE_SKIP ? run_flush(w) :
		      run_add(w, k, off + i * page, n, w->buf + i * page);
		if (err)
			return err;
	}
	err = run_flush(w);
	return err ? err : image_flush(w);
}

/* ---- Setting up ---- */

static int parent_open(struct snap_w *w)
{
	const struct gm_snap_write_req *req = w->req;
	char pwhy[GM_SNAP_WHY_MAX];
	int err;

	if (!req->nparent_fds && !(req->parent_path && req->parent_path[0]))
		return 0;
	if (!req->nparent_fds || !req->parent_path || !req->parent_path[0])
		return gm_snap_why(w->why, "an incremental snapshot needs both the parent's chain and its path"),
		       -EINVAL;
	if (strlen(req->parent_path) >= GMEMFS_SNAP_PARENT_MAX)
		return gm_snap_why(w->why, "the parent's path is longer than %u bytes",
			       GMEMFS_SNAP_PARENT_MAX - 1), -ENAMETOOLONG;
	err = gm_snap_open(&w->parent, req->parent_fds, req->nparent_fds, pwhy);
	if (err)
		return gm_snap_why(w->why, "parent: %.150s", pwhy), err;
	w->has_parent = true;
	err = -EINVAL;
	if (w->parent.nlayers >= GMEMFS_SNAP_MAX_DEPTH)
		return gm_snap_why(w->why, "the parent chain has %u layers already; a reader follows %u",
			       w->parent.nlayers, GMEMFS_SNAP_MAX_DEPTH), err;
	if (w->parent.mem_size != w->src.size || w->parent.page_size != w->src.page_size)
		return gm_snap_why(w->why, "the parent holds %" PRIu64 " bytes in %u-byte pages, the file %" PRIu64 " in %u-byte pages",
			       w->parent.mem_size, w->parent.page_size, w->src.size,
			       w->src.page_size), err;
	err = gm_snap_reader_init(&w->prd, &w->parent);
	return err ? gm_snap_why(w->why, "out of memory"), err : 0;
}

static int header_init(struct snap_w *w)
{
	struct gmemfs_snap_header *h = &w->h;

	memcpy(h->magic, GMEMFS_SNAP_MAGIC, sizeof(h->magic));
	h->version = GMEMFS_SNAP_VERSION;
	h->header_size = sizeof(*h);
	h->mem_size = w->src.size;
	h->page_size = w->src.page_size;
	h->chunk_size = h->page_size > SNAP_CHUNK_MIN ? h->page_size : SNAP_CHUNK_MIN;
	h->provider = w->src.provider;
	h->created_ns = gm_clock_ns(CLOCK_REALTIME);
	if (getrandom(h->uuid, sizeof(h->uuid), 0) != sizeof(h->uuid))
		return gm_snap_why(w->why, "no random bytes for the uuid: %s", strerror(errno)), -EIO;
	/* Marked for what it resolves to: a child of a secret parent holds
	 * the parent's secret bytes for every page it does not list. */
	if (w->src.secret || (w->has_parent && gm_snap_secret(&w->parent)))
		h->flags |= GMEMFS_SNAP_F_SECRET;
	if (w->has_parent) {
		h->flags |= GMEMFS_SNAP_F_PARENT;
		memcpy(h->parent_uuid, w->parent.layers[0].hdr.uuid, sizeof(h->parent_uuid));
		snprintf(h->parent, sizeof(h->parent), "%s", w->req->parent_path);
	}
	return 0;
}

static int buffers_alloc(struct snap_w *w)
{
	w->win = SNAP_WINDOW > w->h.chunk_size ? SNAP_WINDOW : w->h.chunk_size;
	w->buf = malloc(w->win);
	w->pbuf = w->has_parent ? malloc(w->win) : NULL;
	w->present = calloc(w->win / w->h.page_size, sizeof(bool));
	w->late = calloc(w->win / w->h.page_size, sizeof(bool));
	if (!w->buf || !w->present || !w->late || (w->has_parent && !w->pbuf))
		return gm_snap_why(w->why, "out of memory for a %zu-byte window", w->win), -ENOMEM;
	return 0;
}

static void snap_w_free(struct snap_w *w)
{
	if (w->has_parent) {
		gm_snap_reader_fini(&w->prd);
		gm_snap_close(&w->parent);
	}
	gm_snap_src_close(&w->src);
	free(w->priv);
	free(w->buf);
	free(w->pbuf);
	free(w->present);
	free(w->late);
	free(w->ext);
}

/* The file is busy (no conversion to private from now on), then its
 * private ranges, the approved ones included, are never read.  A shim
 * file's conversions the module applied before now are taken in first:
 * one back to shared whose report is still queued would be skipped. */
static int snap_private(struct snap_w *w)
{
	uint64_t ino = w->req->inode->ino;
	int err;

	err = gm_busy_add(ino, 0, UINT64_MAX, "a snapshot", w);
	if (!err && w->src.provider == GMEMFS_PROV_SHIM)
		gm_shim_sync();
	if (!err)
		err = gm_private_ranges(ino, w->src.size, &w->priv, &w->npriv);
	if (err)
		return gm_snap_why(w->why, "out of memory for the private ranges"), err;
	return 0;
}

/* ---- The whole walk ---- */

static int snap_walk(struct snap_w *w)
{
	const struct gm_snap_write_req *req = w->req;
	uint64_t size = w->h.mem_size, reported = 0, now;
	int err;

	if (ftruncate(req->img_fd, (off_t)size))
		return gm_snap_why(w->why, "sizing the image to %" PRIu64 " bytes: %s", size,
			       strerror(errno)), -errno;
	for (uint64_t off = 0; off < size; off += w->win) {
		err = window_walk(w, off, size - off < w->win ? size - off : w->win);
		if (err)
			return err;
		if (req->progress && (off + w->win - reported >= GM_SNAP_PROGRESS_STEP ||
				      off + w->win >= size)) {
			reported = off + w->win < size ? off + w->win : size;
			req->progress(reported, size, req->arg);
		}
	}
	err = gm_snap_src_size_now(&w->src, &now);
	if (!err && now != size)
		return gm_snap_why(w->why, "the file changed size from %" PRIu64 " to %" PRIu64 " during the snapshot",
			       size, now), -EBUSY;
	if (fsync(req->img_fd))
		return gm_snap_why(w->why, "syncing the image: %s", strerror(errno)), -EIO;
	w->h.nr_extents = w->next;
	return gm_snap_index_write(req->idx_fd, &w->h, w->ext, NULL, NULL, w->why);
}

int gm_snap_write(const struct gm_snap_write_req *req, struct gm_snap_stats *st,
		  char why[GM_SNAP_WHY_MAX])
{
	struct snap_w w = { .req = req, .st = st, .why = why };
	uint64_t t0 = gm_mono_ns();
	int err;

	memset(st, 0, sizeof(*st));
	err = gm_snap_check_out_fd(req->img_fd, "image", why);
	if (!err)
		err = gm_snap_check_out_fd(req->idx_fd, "index", why);
	if (!err)
		err = out_fds_distinct(req, why);
	if (err)
		return err;
	err = gm_snap_src_open(&w.src, req->fs, req->inode, why);
	if (err)
		return err;
	err = snap_private(&w);
	if (!err)
		err = parent_open(&w);
	if (!err)
		err = header_init(&w);
	if (!err)
		err = buffers_alloc(&w);
	if (!err)
		err = snap_walk(&w);
	if (err) {
		/* No half snapshot stays behind to be mistaken for one. */
		if (ftruncate(req->idx_fd, 0) || ftruncate(req->img_fd, 0))
			gm_warn("snapshot of file %llu: cutting the failed output: %s",
				(unsigned long long)req->inode->ino, strerror(errno));
	} else {
		st->extents = w.next;
		st->size = w.h.mem_size;
	}
	st->ns = gm_mono_ns() - t0;
	gm_busy_del(&w);
	snap_w_free(&w);
	return err;
}
