/*
 * Private ranges of shim files and busy ranges (see private.h).  Few files
 * have either, so each table is one array scanned whole.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "core/log.h"
#include "meta/private.h"

struct prange {
	uint64_t ino, off, len;
};

struct pending {
	uint64_t ino, off, len;
	bool to_private;
};

struct busy {
	uint64_t ino, off, len;
	const char *what;
	const void *owner;
};

static struct {
	pthread_mutex_t lock;
	struct gm_fs *fs;
	struct prange *r;		/* sorted by (ino, off), merged */
	size_t n;
	struct pending *p;
	size_t np, pcap;
	struct busy *b;
	size_t nb, bcap;
} priv = { .lock = PTHREAD_MUTEX_INITIALIZER };

void gm_private_attach(struct gm_fs *fs)
{
	pthread_mutex_lock(&priv.lock);
	priv.fs = fs;
	pthread_mutex_unlock(&priv.lock);
}

void gm_private_detach(void)
{
	pthread_mutex_lock(&priv.lock);
	free(priv.r);
	free(priv.p);
	free(priv.b);
	priv.r = NULL;
	priv.p = NULL;
	priv.b = NULL;
	priv.n = priv.np = priv.pcap = priv.nb = priv.bcap = 0;
	priv.fs = NULL;
	pthread_mutex_unlock(&priv.lock);
}

struct gm_fs *gm_private_fs(void)
{
	struct gm_fs *fs;

	pthread_mutex_lock(&priv.lock);
	fs = priv.fs;
	pthread_mutex_unlock(&priv.lock);
	return fs;
}

/* Room for one more element of size sz in *arr; priv.lock held. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t c = *cap ? 2 * *cap : 16;
	void *p;

	if (n < *cap)
		return 0;
	p = realloc(*arr, c * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int prange_cmp(const void *a, const void *b)
{
	const struct prange *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* [off, off + len) of ino to private or shared; priv.lock held. */
static int prange_set(uint64_t ino, uint64_t off, uint64_t len, bool private)
{
	struct prange *out = malloc((priv.n + 2) * sizeof(*out));
	uint64_t end = off + len;
	size_t n = 0, m = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < priv.n; i++) {
		struct prange r = priv.r[i];

		if (r.ino != ino || !overlaps(r.off, r.len, off, len)) {
			out[n++] = r;
			continue;
		}
		if (r.off < off)
			out[n++] = (struct prange){ ino, r.off, off - r.off };
		if (r.off + r.len > end)
			out[n++] = (struct prange){ ino, end, r.off + r.len - end };
	}
	if (private)
		out[n++] = (struct prange){ ino, off, len };
	qsort(out, n, sizeof(*out), prange_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && out[m - 1].ino == out[i].ino &&
		    out[m - 1].off + out[m - 1].len >= out[i].off) {
			uint64_t e = out[i].off + out[i].len;

			if (e > out[m - 1].off + out[m - 1].len)
				out[m - 1].len = e - out[m - 1].off;
			continue;
		}
		out[m++] = out[i];
	}
	free(priv.r);
	priv.r = out;
	priv.n = m;
	return 0;
}

/* Journal a change of a named file; tree_lock held. */
static int private_journal(struct gm_fs *fs, struct gm_inode *inode, uint64_t off,
			   uint64_t len, bool private)
{
	struct gm_jrec r = { .type = GM_J_PRIVATE, .ino = inode->ino, .offset = off,
			     .length = len, .flags = private ? GM_J_PRIVATE_ON : 0 };
	int err;

	if (!fs->journaling || inode->tmpfile || inode->nlink == 0)
		return 0;
	err = gm_journal_append(&fs->journal, &r);
	if (err)
		gm_err("journal %s: file %llu: recording [%llu, +%llu) %s: %s", fs->journal.path,
		       (unsigned long long)inode->ino, (unsigned long long)off,
		       (unsigned long long)len, private ? "private" : "shared", strerror(-err));
	return err;
}

/* Would making [off, off + len) of ino shared change anything? */
static bool private_touches(uint64_t ino, uint64_t off, uint64_t len)
{
	bool touches = false;

	pthread_mutex_lock(&priv.lock);
	for (size_t i = 0; i < priv.n && !touches; i++)
		touches = priv.r[i].ino == ino && overlaps(priv.r[i].off, priv.r[i].len, off, len);
	pthread_mutex_unlock(&priv.lock);
	return touches;
}

int gm_private_applied(uint64_t ino, uint64_t off, uint64_t len, bool private)
{
	struct gm_fs *fs = gm_private_fs();
	struct gm_inode *inode;
	int err = 0;

	/* Shared where nothing was private (a truncate of most files): no record. */
	if (!private && !private_touches(ino, off, len))
		return 0;
	inode = fs ? gm_inode_find(&fs->it, ino) : NULL;
	if (inode) {
		pthread_mutex_lock(&fs->it.tree_lock);
		err = private_journal(fs, inode, off, len, private);
		pthread_mutex_unlock(&fs->it.tree_lock);
		gm_fs_put(fs, inode);
	}
	/* Known here even if the journal failed: what the module holds. */
	pthread_mutex_lock(&priv.lock);
	if (prange_set(ino, off, len, private))
		err = -ENOMEM;
	pthread_mutex_unlock(&priv.lock);
	return err;
}

void gm_private_forget(uint64_t ino)
{
	size_t n = 0;

	pthread_mutex_lock(&priv.lock);
	if (prange_set(ino, 0, UINT64_MAX, false))
		gm_warn("file %llu: no memory to forget its private ranges",
			(unsigned long long)ino);
	for (size_t i = 0; i < priv.np; i++)
		if (priv.p[i].ino != ino)
			priv.p[n++] = priv.p[i];
	priv.np = n;
	pthread_mutex_unlock(&priv.lock);
}

/* [off, off + len) clipped to size into out[*n]; merged with the last. */
static void range_put(struct gm_snap_range *out, size_t *n, uint64_t off, uint64_t len,
		      uint64_t size)
{
	if (off >= size)
		return;
	if (len > size - off)
		len = size - off;
	out[(*n)++] = (struct gm_snap_range){ .off = off, .len = len };
}

static int range_cmp(const void *a, const void *b)
{
	const struct gm_snap_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static size_t range_merge(struct gm_snap_range *r, size_t n)
{
	size_t m = 0;

	qsort(r, n, sizeof(*r), range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && r[m - 1].off + r[m - 1].len >= r[i].off) {
			uint64_t e = r[i].off + r[i].len;

			if (e > r[m - 1].off + r[m - 1].len)
				r[m - 1].len = e - r[m - 1].off;
			continue;
		}
		r[m++] = r[i];
	}
	return m;
}

int gm_private_ranges(uint64_t ino, uint64_t size, struct gm_snap_range **out, size_t *n)
{
	struct gm_snap_range *r;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&priv.lock);
	r = malloc((priv.n + priv.np + 1) * sizeof(*r));
	for (size_t i = 0; r && i < priv.n; i++)
		if (priv.r[i].ino == ino)
			range_put(r, &k, priv.r[i].off, priv.r[i].len, size);
	for (size_t i = 0; r && i < priv.np; i++)
		if (priv.p[i].ino == ino && priv.p[i].to_private)
			range_put(r, &k, priv.p[i].off, priv.p[i].len, size);
	pthread_mutex_unlock(&priv.lock);
	if (!r)
		return -ENOMEM;
	if (!k) {
		free(r);
		return 0;
	}
	*out = r;
	*n = range_merge(r, k);
	return 0;
}

int gm_private_approve(uint64_t ino, uint64_t off, uint64_t len, bool to_private,
		       bool check_busy, const char **what)
{
	int err = 0;

	pthread_mutex_lock(&priv.lock);
	for (size_t i = 0; to_private && check_busy && i < priv.nb; i++) {
		if (priv.b[i].ino == ino && overlaps(priv.b[i].off, priv.b[i].len, off, len)) {
			*what = priv.b[i].what;
			err = -EBUSY;
			goto out;
		}
	}
	err = grow((void **)&priv.p, &priv.pcap, priv.np, sizeof(*priv.p));
	if (!err)
		priv.p[priv.np++] = (struct pending){ ino, off, len, to_private };
out:
	pthread_mutex_unlock(&priv.lock);
	return err;
}

bool gm_private_settled(uint64_t ino, uint64_t off, uint64_t len, bool to_private)
{
	bool found = false;

	pthread_mutex_lock(&priv.lock);
	for (size_t i = 0; i < priv.np && !found; i++) {
		struct pending *p = &priv.p[i];

		found = p->ino == ino && p->off == off && p->len == len &&
			p->to_private == to_private;
		if (found)
			*p = priv.p[--priv.np];
	}
	pthread_mutex_unlock(&priv.lock);
	return found;
}

int gm_busy_add(uint64_t ino, uint64_t off, uint64_t len, const char *what, const void *owner)
{
	int err;

	pthread_mutex_lock(&priv.lock);
	err = grow((void **)&priv.b, &priv.bcap, priv.nb, sizeof(*priv.b));
	if (!err)
		priv.b[priv.nb++] = (struct busy){ ino, off, len, what, owner };
	pthread_mutex_unlock(&priv.lock);
	return err;
}

void gm_busy_del(const void *owner)
{
	size_t n = 0;

	pthread_mutex_lock(&priv.lock);
	for (size_t i = 0; i < priv.nb; i++)
		if (priv.b[i].owner != owner)
			priv.b[n++] = priv.b[i];
	priv.nb = n;
	pthread_mutex_unlock(&priv.lock);
}

int gm_private_replay(struct gm_fs *fs, const struct gm_jrec *r)
{
	struct gm_inode *inode = gm_inode_find(&fs->it, r->ino);
	int err;

	if (!inode) {
		gm_warn("journal: private range names unknown inode %llu; record skipped",
			(unsigned long long)r->ino);
		return -ENOENT;
	}
	gm_fs_put(fs, inode);
	if (!r->length || r->offset + r->length < r->offset)
		return -EINVAL;
	pthread_mutex_lock(&priv.lock);
	err = prange_set(r->ino, r->offset, r->length, r->flags & GM_J_PRIVATE_ON);
	pthread_mutex_unlock(&priv.lock);
	return err;
}

int gm_private_emit(struct gm_journal *j, uint64_t ino)
{
	struct gm_jrec r = { .type = GM_J_PRIVATE, .ino = ino, .flags = GM_J_PRIVATE_ON };
	int err = 0;

	pthread_mutex_lock(&priv.lock);
	for (size_t i = 0; i < priv.n && !err; i++) {
		if (priv.r[i].ino != ino)
			continue;
		r.offset = priv.r[i].off;
		r.length = priv.r[i].len;
		err = gm_journal_append(j, &r);
	}
	pthread_mutex_unlock(&priv.lock);
	return err;
}
