/*
 * Reading snapshots (see format.h and uapi/gmemfs_snap.h): loading and
 * checking one layer's index, opening a chain of layers and resolving which
 * layer holds each byte, reading memory with every DATA extent's crc32c
 * verified, and storing a working set.
 *
 * Not for: writing snapshots (write.c), restoring them
 * (restore.c, uffd/), or opening the files of a chain by path
 * (that happens in the client, lib/snap.c, with the client's permissions).
 *
 * Concurrency: a gm_snap is written only by gm_snap_open (and
 * gm_snap_store_ws, which touches layers[0]'s working set, read by nobody
 * else here); gm_snap_read keeps its state in the caller's gm_snap_reader,
 * so any number of threads read one gm_snap at once.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "snap/format.h"

#define HDR_SIZE	sizeof(struct gmemfs_snap_header)
#define EXT_SIZE	sizeof(struct gmemfs_snap_extent)
#define WS_SIZE		sizeof(struct gmemfs_snap_ws)
#define CRC_SIZE	sizeof(uint32_t)

_Static_assert(HDR_SIZE == 392, "the header's size is ABI");
_Static_assert(EXT_SIZE == 24 && WS_SIZE == 8, "extent and ws sizes are ABI");

/* The largest page and chunk the format admits: 1 GiB (hugetlb-1g). */
#define GM_SNAP_PAGE_MAX	(1u << 30)


/* ---- Byte order: the format is little-endian; convert in place ---- */

static void header_from_le(struct gmemfs_snap_header *h)
{
	h->version = le32toh(h->version);
	h->header_size = le32toh(h->header_size);
	h->mem_size = le64toh(h->mem_size);
	h->page_size = le32toh(h->page_size);
	h->chunk_size = le32toh(h->chunk_size);
	h->flags = le32toh(h->flags);
	h->provider = le32toh(h->provider);
	h->nr_extents = le64toh(h->nr_extents);
	h->nr_ws = le64toh(h->nr_ws);
	h->created_ns = le64toh(h->created_ns);
	h->data_bytes = le64toh(h->data_bytes);
	h->ws_data_offset = le64toh(h->ws_data_offset);
}

/* The conversions are their own inverses; the names say the direction. */
#define header_to_le header_from_le

static void extent_from_le(struct gmemfs_snap_extent *e)
{
	e->offset = le64toh(e->offset);
	e->length = le64toh(e->length);
	e->type = le32toh(e->type);
	e->crc = le32toh(e->crc);
}

/* ---- Loading one layer ---- */

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

bool gm_snap_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	/* Each byte equal to the one before it and the first zero: memcmp
	 * runs at memory speed, a byte loop does not. */
	return !n || (!b[0] && !memcmp(b, b + 1, n - 1));
}

static int pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

static int header_check(const struct gmemfs_snap_header *h, char *why)
{
	if (memcmp(h->magic, GMEMFS_SNAP_MAGIC, sizeof(h->magic)))
		return gm_snap_why(why, "not a gmemfs snapshot index (bad magic)"), -EINVAL;
	if (h->version < GMEMFS_SNAP_VERSION_MIN || h->version > GMEMFS_SNAP_VERSION)
		return gm_snap_why(why, "index version %u, this daemon reads %u to %u",
			       h->version, GMEMFS_SNAP_VERSION_MIN, GMEMFS_SNAP_VERSION), -EINVAL;
	if (h->header_size != HDR_SIZE)
		return gm_snap_why(why, "index header size %u, expected %zu",
			       h->header_size, HDR_SIZE), -EINVAL;
	if (!is_pow2(h->page_size) || h->page_size < 4096 || h->page_size > GM_SNAP_PAGE_MAX)
		return gm_snap_why(why, "bad page size %u", h->page_size), -EINVAL;
	if (!is_pow2(h->chunk_size) || h->chunk_size < h->page_size ||
	    h->chunk_size > GM_SNAP_PAGE_MAX)
		return gm_snap_why(why, "bad chunk size %u (page size %u)",
			       h->chunk_size, h->page_size), -EINVAL;
	if (h->flags & ~GMEMFS_SNAP_F_ALL)
		return gm_snap_why(why, "unknown flags %#x", h->flags & ~GMEMFS_SNAP_F_ALL), -EINVAL;
	if (!gm_snap_zero(h->reserved, sizeof(h->reserved)))
		return gm_snap_why(why, "reserved header bytes are not zero"), -EINVAL;
	if (h->version < 4 && h->flags & GMEMFS_SNAP_F_SECRET)
		return gm_snap_why(why, "a version %u index with version 4's secret mark",
			       h->version), -EINVAL;
	if (h->version < 2 && (h->flags & GMEMFS_SNAP_F_WS_DATA || h->ws_data_offset))
		return gm_snap_why(why, "a version 1 index with version 2's working-set bytes"), -EINVAL;
	if (!(h->flags & GMEMFS_SNAP_F_WS_DATA) != !h->ws_data_offset ||
	    (h->flags & GMEMFS_SNAP_F_WS_DATA && !h->nr_ws))
		return gm_snap_why(why, "working-set bytes: flag, offset %" PRIu64 " and %" PRIu64 " entries disagree",
			       (uint64_t)h->ws_data_offset, (uint64_t)h->nr_ws), -EINVAL;
	if (!memchr(h->parent, 0, sizeof(h->parent)))
		return gm_snap_why(why, "parent path is not NUL-terminated"), -EINVAL;
	if (!!(h->flags & GMEMFS_SNAP_F_PARENT) ==
	    gm_snap_zero(h->parent_uuid, sizeof(h->parent_uuid)))
		return gm_snap_why(why, "parent flag and parent uuid disagree"), -EINVAL;
	/* Every extent is at least a page: more extents than pages is a lie
	 * that would make us allocate for nothing. */
	if (h->nr_extents > h->mem_size / h->page_size + 1 ||
	    h->nr_ws > h->mem_size / h->chunk_size + 1)
		return gm_snap_why(why, "%" PRIu64 " extents, %" PRIu64 " ws entries: too many for %" PRIu64 " bytes",
			       (uint64_t)h->nr_extents, (uint64_t)h->nr_ws, (uint64_t)h->mem_size), -EINVAL;
	return 0;
}

/* One extent against the header's rules and its predecessor's end. */
static int extent_check(const struct gmemfs_snap_header *h, const struct gmemfs_snap_extent *e,
			uint64_t i, uint64_t prev_end, char *why)
{
	uint64_t end = e->offset + e->length;

	if (e->type != GMEMFS_SNAP_EXT_DATA && e->type != GMEMFS_SNAP_EXT_ZERO &&
	    (e->type != GMEMFS_SNAP_EXT_PRIVATE || h->version < 3))
		return gm_snap_why(why, "extent %" PRIu64 ": unknown type %u in a version %u index",
			       i, e->type, h->version), -EINVAL;
	if (e->type != GMEMFS_SNAP_EXT_DATA && e->crc)
		return gm_snap_why(why, "extent %" PRIu64 ": zero or private extent with a crc", i),
		       -EINVAL;
	if (!e->length || e->length > h->chunk_size || end < e->offset || end > h->mem_size)
		return gm_snap_why(why, "extent %" PRIu64 " [%#" PRIx64 ", +%#" PRIx64 "): outside the %" PRIu64 "-byte memory or longer than a chunk",
			       i, (uint64_t)e->offset, (uint64_t)e->length, (uint64_t)h->mem_size), -EINVAL;
	/* Whole pages, except that the last page of a memory whose size is
	 * no multiple of the page size ends at mem_size. */
	if (e->offset % h->page_size || (e->length % h->page_size && end != h->mem_size))
		return gm_snap_why(why, "extent %" PRIu64 " at %#" PRIx64 ": not whole pages of %u",
			       i, (uint64_t)e->offset, h->page_size), -EINVAL;
	if (e->offset / h->chunk_size != (end - 1) / h->chunk_size)
		return gm_snap_why(why, "extent %" PRIu64 " at %#" PRIx64 ": crosses a chunk boundary",
			       i, (uint64_t)e->offset), -EINVAL;
	if (e->offset < prev_end)
		return gm_snap_why(why, "extent %" PRIu64 " at %#" PRIx64 ": not sorted or overlapping",
			       i, (uint64_t)e->offset), -EINVAL;
	return 0;
}

static int extents_check(const struct gmemfs_snap_header *h, struct gmemfs_snap_extent *ext,
			 char *why)
{
	uint64_t prev_end = 0, data = 0;
	int err;

	for (uint64_t i = 0; i < h->nr_extents; i++) {
		extent_from_le(&ext[i]);
		err = extent_check(h, &ext[i], i, prev_end, why);
		if (err)
			return err;
		prev_end = ext[i].offset + ext[i].length;
		if (ext[i].type == GMEMFS_SNAP_EXT_DATA)
			data += ext[i].length;
	}
	if (data != h->data_bytes)
		return gm_snap_why(why, "data_bytes %" PRIu64 " but the extents hold %" PRIu64,
			       (uint64_t)h->data_bytes, data), -EINVAL;
	return 0;
}

static int ws_check(const struct gmemfs_snap_header *h, struct gmemfs_snap_ws *ws, char *why)
{
	for (uint64_t i = 0; i < h->nr_ws; i++) {
		ws[i].offset = le64toh(ws[i].offset);
		if (ws[i].offset % h->chunk_size || ws[i].offset >= h->mem_size)
			return gm_snap_why(why, "working-set entry %" PRIu64 " (%#" PRIx64 "): not a chunk of the memory",
				       i, (uint64_t)ws[i].offset), -EINVAL;
	}
	return 0;
}

/* Bytes of the index proper: header to crc, without the working set's
 * bytes. */
static size_t index_len(const struct gmemfs_snap_header *h)
{
	size_t crcs = h->flags & GMEMFS_SNAP_F_WS_DATA ? h->nr_ws * CRC_SIZE : 0;

	return HDR_SIZE + h->nr_extents * EXT_SIZE + h->nr_ws * WS_SIZE + crcs + CRC_SIZE;
}

static uint64_t ws_data_offset(size_t len)
{
	return (len + GMEMFS_SNAP_WS_ALIGN - 1) / GMEMFS_SNAP_WS_ALIGN * GMEMFS_SNAP_WS_ALIGN;
}

/* The index file's length: the index, then any working-set bytes. */
static uint64_t index_file_len(const struct gmemfs_snap_header *h)
{
	if (!(h->flags & GMEMFS_SNAP_F_WS_DATA))
		return index_len(h);
	return h->ws_data_offset + h->nr_ws * (uint64_t)h->chunk_size;
}

/* The whole index in memory (not the working set's bytes), its length
 * checked against the header and its crc verified; *hdr gets the header
 * in host order. */
static int index_read(int idx_fd, struct gmemfs_snap_header *hdr, void **out, size_t *outlen,
		      char *why)
{
	struct stat st;
	size_t len;
	uint32_t crc;
	void *buf;
	int n, err;

	err = -errno;
	if (fstat(idx_fd, &st))
		return gm_snap_why(why, "index: fstat: %s", strerror(errno)), err;
	err = -EINVAL;
	if (!S_ISREG(st.st_mode))
		return gm_snap_why(why, "index is not a regular file"), err;
	if ((uint64_t)st.st_size < HDR_SIZE + CRC_SIZE)
		return gm_snap_why(why, "index truncated: %jd bytes, a header alone is %zu",
			       (intmax_t)st.st_size, HDR_SIZE + CRC_SIZE), err;
	n = pread_full(idx_fd, hdr, HDR_SIZE, 0);
	if (n < 0)
		return gm_snap_why(why, "index: read: %s", strerror(-n)), -EIO;
	header_from_le(hdr);
	err = header_check(hdr, why);
	if (err)
		return err;
	len = index_len(hdr);
	if (hdr->flags & GMEMFS_SNAP_F_WS_DATA && hdr->ws_data_offset != ws_data_offset(len))
		return gm_snap_why(why, "working-set bytes at %" PRIu64 ", not at %" PRIu64 " after the index",
			       (uint64_t)hdr->ws_data_offset, ws_data_offset(len)), -EINVAL;
	if ((uint64_t)st.st_size != index_file_len(hdr))
		return gm_snap_why(why, "index is %jd bytes, its header says %" PRIu64 " (truncated or trailing bytes)",
			       (intmax_t)st.st_size, index_file_len(hdr)), -EINVAL;
	buf = malloc(len);
	if (!buf)
		return gm_snap_why(why, "index: out of memory for %zu bytes", len), -ENOMEM;
	n = pread_full(idx_fd, buf, len, 0);
	err = n < 0 ? n : 0;
	if (err || (size_t)n != len) {
		gm_snap_why(why, "index: read: %s", err ? strerror(-err) : "short read");
		err = -EIO;
		goto err_free;
	}
	memcpy(&crc, (char *)buf + len - CRC_SIZE, CRC_SIZE);
	if (le32toh(crc) != gm_crc32c(0, buf, len - CRC_SIZE)) {
		gm_snap_why(why, "index checksum mismatch (stored %08x, computed %08x)",
			le32toh(crc), gm_crc32c(0, buf, len - CRC_SIZE));
		err = -EINVAL;
		goto err_free;
	}
	*out = buf;
	*outlen = len;
	return 0;
err_free:
	free(buf);
	return err;
}

int gm_snap_layer_load(struct gm_snap_layer *l, int img_fd, int idx_fd, char why[GM_SNAP_WHY_MAX])
{
	size_t len, ext_len, ws_len, crc_len;
	struct stat st;
	void *buf = NULL;
	int err;

	memset(l, 0, sizeof(*l));
	l->img_fd = img_fd;
	l->idx_fd = idx_fd;
	err = index_read(idx_fd, &l->hdr, &buf, &len, why);
	if (err)
		return err;
	ext_len = l->hdr.nr_extents * EXT_SIZE;
	ws_len = l->hdr.nr_ws * WS_SIZE;
	crc_len = l->hdr.flags & GMEMFS_SNAP_F_WS_DATA ? l->hdr.nr_ws * CRC_SIZE : 0;
	err = -ENOMEM;
	l->ext = malloc(ext_len ? ext_len : 1);
	l->ws = malloc(ws_len ? ws_len : 1);
	l->ws_crc = crc_len ? malloc(crc_len) : NULL;
	if (!l->ext || !l->ws || (crc_len && !l->ws_crc)) {
		gm_snap_why(why, "index: out of memory");
		goto err_free;
	}
	memcpy(l->ext, (char *)buf + HDR_SIZE, ext_len);
	memcpy(l->ws, (char *)buf + HDR_SIZE + ext_len, ws_len);
	for (uint64_t i = 0; i < crc_len / CRC_SIZE; i++) {
		uint32_t c;

		memcpy(&c, (char *)buf + HDR_SIZE + ext_len + ws_len + i * CRC_SIZE, CRC_SIZE);
		l->ws_crc[i] = le32toh(c);
	}
	err = extents_check(&l->hdr, l->ext, why);
	if (!err)
		err = ws_check(&l->hdr, l->ws, why);
	if (err)
		goto err_free;
	err = -errno;
	if (fstat(img_fd, &st)) {
		gm_snap_why(why, "image: fstat: %s", strerror(errno));
		goto err_free;
	}
	err = -EINVAL;
	if (!S_ISREG(st.st_mode)) {
		gm_snap_why(why, "image is not a regular file");
		goto err_free;
	}
	if ((uint64_t)st.st_size != l->hdr.mem_size) {
		gm_snap_why(why, "image is %jd bytes, the index says %" PRIu64 " (truncated image?)",
			(intmax_t)st.st_size, (uint64_t)l->hdr.mem_size);
		goto err_free;
	}
	free(buf);
	return 0;
err_free:
	free(buf);
	gm_snap_layer_free(l);
	return err;
}

void gm_snap_layer_free(struct gm_snap_layer *l)
{
	free(l->ext);
	free(l->ws);
	free(l->ws_crc);
	l->ext = NULL;
	l->ws = NULL;
	l->ws_crc = NULL;
}

/* ---- A chain, and which layer holds what ---- */

struct piece_list {
	struct gm_snap_piece *p;
	size_t n, cap;
};

static int piece_add(struct piece_list *pl, const struct gm_snap_piece *src,
		     uint64_t off, uint64_t end)
{
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? 2 * pl->cap : 64;
		struct gm_snap_piece *p = realloc(pl->p, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		pl->p = p;
		pl->cap = cap;
	}
	pl->p[pl->n] = *src;
	pl->p[pl->n].off = off;
	pl->p[pl->n].len = end - off;
	pl->n++;
	return 0;
}

static struct gm_snap_piece extent_piece(const struct gm_snap_layer *l, unsigned layer, uint32_t i)
{
	return (struct gm_snap_piece){
		.off = l->ext[i].offset, .len = l->ext[i].length,
		.type = l->ext[i].type, .layer = layer, .ext = i,
	};
}

/* out = the extents of layer `layer` laid over the older pieces `old`: what
 * the newer layer lists wins, the older pieces fill in around it.  Both
 * inputs are sorted and free of overlaps, so one pass does it. */
static int overlay(const struct gm_snap *s, unsigned layer, const struct piece_list *old,
		   struct piece_list *out)
{
	const struct gm_snap_layer *l = &s->layers[layer];
	uint64_t k = 0, nn = l->hdr.nr_extents;
	int err = 0;

	for (size_t j = 0; j < old->n && !err; j++) {
		const struct gm_snap_piece *o = &old->p[j];
		uint64_t cur = o->off, end = o->off + o->len;

		for (; k < nn && l->ext[k].offset + l->ext[k].length <= cur && !err; k++) {
			struct gm_snap_piece np = extent_piece(l, layer, k);

			err = piece_add(out, &np, np.off, np.off + np.len);
		}
		while (k < nn && l->ext[k].offset < end && !err) {
			struct gm_snap_piece np = extent_piece(l, layer, k);
			uint64_t nend = np.off + np.len;

			if (np.off > cur)
				err = piece_add(out, o, cur, np.off);
			cur = nend > cur ? nend : cur;
			if (nend > end)
				break;	/* it also covers the next old piece */
			if (!err)
				err = piece_add(out, &np, np.off, nend);
			k++;
		}
		if (!err && cur < end)
			err = piece_add(out, o, cur, end);
	}
	for (; k < nn && !err; k++) {
		struct gm_snap_piece np = extent_piece(l, layer, k);

		err = piece_add(out, &np, np.off, np.off + np.len);
	}
	return err;
}

/* The resolved PRIVATE pieces into s->priv, adjacent ones merged. */
static int private_collect(struct gm_snap *s, const struct piece_list *all)
{
	struct gm_snap_range *r;
	size_t n = 0;

	for (size_t j = 0; j < all->n; j++)
		n += all->p[j].type == GMEMFS_SNAP_EXT_PRIVATE;
	if (!n)
		return 0;
	r = calloc(n, sizeof(*r));
	if (!r)
		return -ENOMEM;
	n = 0;
	for (size_t j = 0; j < all->n; j++) {
		const struct gm_snap_piece *p = &all->p[j];

		if (p->type != GMEMFS_SNAP_EXT_PRIVATE)
			continue;
		if (n && r[n - 1].off + r[n - 1].len == p->off)
			r[n - 1].len += p->len;
		else
			r[n++] = (struct gm_snap_range){ .off = p->off, .len = p->len };
	}
	s->priv = r;
	s->npriv = n;
	return 0;
}

bool gm_snap_private_in(const struct gm_snap *s, uint64_t off, uint64_t len)
{
	for (size_t i = 0; i < s->npriv; i++)
		if (s->priv[i].off < off + len && off < s->priv[i].off + s->priv[i].len)
			return true;
	return false;
}

/* Pieces of the whole chain, oldest layer first, each newer one laid over;
 * ZERO pieces then drop out, since gaps read as zero anyway, and PRIVATE
 * ones go to s->priv (they read as zero too: their bytes are nowhere). */
static int pieces_resolve(struct gm_snap *s)
{
	struct piece_list cur = { 0 }, next;
	size_t n = 0;
	int err = 0;

	for (unsigned i = s->nlayers; i-- > 0 && !err;) {
		next = (struct piece_list){ 0 };
		err = overlay(s, i, &cur, &next);
		free(cur.p);
		cur = next;
	}
	if (err) {
		free(cur.p);
		return err;
	}
	err = private_collect(s, &cur);
	for (size_t j = 0; j < cur.n && !err; j++)
		if (cur.p[j].type == GMEMFS_SNAP_EXT_DATA)
			cur.p[n++] = cur.p[j];
	s->pieces = cur.p;
	s->npieces = n;
	return err;
}

static void uuid_str(const uint8_t u[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", u[i]);
}

/* Layer i's parent link against layer i + 1 (or the chain's end). */
static int chain_link_check(const struct gm_snap *s, unsigned i, char *why)
{
	const struct gmemfs_snap_header *h = &s->layers[i].hdr, *p;
	char want[33];

	if (!(h->flags & GMEMFS_SNAP_F_PARENT)) {
		if (i + 1 < s->nlayers)
			return gm_snap_why(why, "layer %u is a full snapshot, yet %u more layers follow",
				       i, s->nlayers - i - 1), -EINVAL;
		return 0;
	}
	uuid_str(h->parent_uuid, want);
	if (i + 1 == s->nlayers)
		return gm_snap_why(why, "missing parent: layer %u needs its parent '%s' (uuid %s)",
			       i, h->parent, want), -EINVAL;
	p = &s->layers[i + 1].hdr;
	if (memcmp(h->parent_uuid, p->uuid, sizeof(p->uuid)))
		return gm_snap_why(why, "broken chain: layer %u's parent '%s' should have uuid %s, layer %u does not",
			       i, h->parent, want, i + 1), -EINVAL;
	if (p->mem_size != h->mem_size || p->page_size != h->page_size ||
	    p->chunk_size != h->chunk_size)
		return gm_snap_why(why, "layer %u (%" PRIu64 " bytes, page %u, chunk %u) does not match its parent (%" PRIu64 ", %u, %u)",
			       i, (uint64_t)h->mem_size, h->page_size, h->chunk_size,
			       (uint64_t)p->mem_size, p->page_size, p->chunk_size), -EINVAL;
	return 0;
}

int gm_snap_open(struct gm_snap *s, const int *fds, unsigned nfds, char why[GM_SNAP_WHY_MAX])
{
	char lwhy[GM_SNAP_WHY_MAX];
	int err;

	memset(s, 0, sizeof(*s));
	if (nfds < 2 || nfds % 2 || nfds > 2 * GMEMFS_SNAP_MAX_DEPTH)
		return gm_snap_why(why, "%u fds: a chain is 1 to %u pairs of image and index",
			       nfds, GMEMFS_SNAP_MAX_DEPTH), -EINVAL;
	for (unsigned i = 0; i < nfds / 2; i++) {
		err = gm_snap_layer_load(&s->layers[i], fds[2 * i], fds[2 * i + 1], lwhy);
		if (err) {
			gm_snap_why(why, "layer %u: %.140s", i, lwhy);
			goto err_close;
		}
		s->nlayers = i + 1;
	}
	for (unsigned i = 0; i < s->nlayers; i++) {
		err = chain_link_check(s, i, why);
		if (err)
			goto err_close;
	}
	s->mem_size = s->layers[0].hdr.mem_size;
	s->page_size = s->layers[0].hdr.page_size;
	s->chunk_size = s->layers[0].hdr.chunk_size;
	err = pieces_resolve(s);
	if (err) {
		gm_snap_why(why, "out of memory resolving the chain");
		goto err_close;
	}
	return 0;
err_close:
	gm_snap_close(s);
	return err;
}

void gm_snap_close(struct gm_snap *s)
{
	for (unsigned i = 0; i < s->nlayers; i++)
		gm_snap_layer_free(&s->layers[i]);
	free(s->pieces);
	free(s->priv);
	s->pieces = NULL;
	s->priv = NULL;
	s->npieces = s->npriv = 0;
	s->nlayers = 0;
}

/* ---- Reading ---- */

/* One chunk of scratch is enough: an extent never exceeds a chunk, and a
 * reader verifies one extent at a time. */
int gm_snap_reader_init(struct gm_snap_reader *rd, const struct gm_snap *s)
{
	rd->s = s;
	rd->scratch_len = s->chunk_size;
	rd->scratch = malloc(rd->scratch_len);
	return rd->scratch ? 0 : -ENOMEM;
}

void gm_snap_reader_fini(struct gm_snap_reader *rd)
{
	free(rd->scratch);
	rd->scratch = NULL;
}

/* Read extent e of layer `layer` into dst and verify its crc. */
static int extent_read(const struct gm_snap *s, unsigned layer, uint32_t e, void *dst, char *why)
{
	const struct gmemfs_snap_extent *x = &s->layers[layer].ext[e];
	int n = pread_full(s->layers[layer].img_fd, dst, x->length, x->offset);
	uint32_t crc;

	if (n < 0)
		return gm_snap_why(why, "layer %u extent %u at %#" PRIx64 ": read: %s",
			       layer, e, (uint64_t)x->offset, strerror(-n)), -EIO;
	if ((uint64_t)n != x->length)
		return gm_snap_why(why, "layer %u extent %u at %#" PRIx64 ": image short (%d of %" PRIu64 " bytes)",
			       layer, e, (uint64_t)x->offset, n, (uint64_t)x->length), -EIO;
	crc = gm_crc32c(0, dst, x->length);
	if (crc != x->crc)
		return gm_snap_why(why, "layer %u extent %u at %#" PRIx64 " (+%#" PRIx64 "): checksum mismatch (index %08x, image %08x)",
			       layer, e, (uint64_t)x->offset, (uint64_t)x->length, x->crc, crc), -EIO;
	return 0;
}

/* The first piece that ends after off. */
static size_t piece_find(const struct gm_snap *s, uint64_t off)
{
	size_t lo = 0, hi = s->npieces;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->pieces[mid].off + s->pieces[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* One DATA piece into buf (which holds [off, ...)): straight in when the
 * piece is its whole extent, else through the scratch, which keeps the
 * last verified extent for the next piece cut from the same one. */
static int piece_read(struct gm_snap_reader *rd, const struct gm_snap_piece *p, uint64_t off,
		      uint8_t *buf, int64_t *cached, char *why)
{
	const struct gm_snap *s = rd->s;
	const struct gmemfs_snap_extent *x = &s->layers[p->layer].ext[p->ext];
	int64_t key = (int64_t)p->layer << 32 | p->ext;
	int err;

	if (x->offset == p->off && x->length == p->len)
		return extent_read(s, p->layer, p->ext, buf + (p->off - off), why);
	if (*cached != key) {
		*cached = -1;
		err = extent_read(s, p->layer, p->ext, rd->scratch, why);
		if (err)
			return err;
		*cached = key;
	}
	memcpy(buf + (p->off - off), (uint8_t *)rd->scratch + (p->off - x->offset), p->len);
	return 0;
}

int gm_snap_read(struct gm_snap_reader *rd, uint64_t off, void *buf, size_t len,
		 bool *all_zero, char why[GM_SNAP_WHY_MAX])
{
	const struct gm_snap *s = rd->s;
	uint64_t end = off + len, pos = off;
	int64_t cached = -1;
	bool zero = true;
	int err;

	if (off % s->chunk_size || end < off || end > s->mem_size ||
	    (len % s->chunk_size && end != s->mem_size))
		return gm_snap_why(why, "read [%#" PRIx64 ", +%#zx): not whole chunks of %u in %" PRIu64 " bytes",
			       off, len, s->chunk_size, s->mem_size), -EINVAL;
	for (size_t i = piece_find(s, off); i < s->npieces && s->pieces[i].off < end; i++) {
		const struct gm_snap_piece *p = &s->pieces[i];

		/* Pieces never cross a chunk boundary, so one read range
		 * holds each piece it touches whole. */
		if (p->off > pos)
			memset((uint8_t *)buf + (pos - off), 0, p->off - pos);
		err = piece_read(rd, p, off, buf, &cached, why);
		if (err)
			return err;
		pos = p->off + p->len;
		zero = false;
	}
	if (pos < end)
		memset((uint8_t *)buf + (pos - off), 0, end - pos);
	if (all_zero)
		*all_zero = zero;
	return 0;
}

/* ---- Writing an index ---- */

unsigned gm_snap_index_version(const struct gmemfs_snap_header *h,
			       const struct gmemfs_snap_extent *ext)
{
	if (h->flags & GMEMFS_SNAP_F_SECRET)
		return 4;
	for (uint64_t i = 0; i < h->nr_extents; i++)
		if (ext[i].type == GMEMFS_SNAP_EXT_PRIVATE)
			return 3;
	return h->flags & GMEMFS_SNAP_F_WS_DATA ? 2 : 1;
}

/* h (host order, nr_extents and nr_ws set), the extents and the working
 * set as the format lays them out, with the crc at the end. */
static void *index_build(const struct gmemfs_snap_header *hdr, const struct gmemfs_snap_extent *ext,
			 const uint64_t *ws, const uint32_t *ws_crc, size_t *outlen)
{
	size_t len = index_len(hdr);
	struct gmemfs_snap_header h = *hdr;
	uint8_t *buf = malloc(len), *p;
	uint32_t crc;

	if (!buf)
		return NULL;
	/* The oldest version that describes it, so older readers still take
	 * an index without the working set's bytes, private ranges or the
	 * secret mark, and refuse one with them. */
	h.version = gm_snap_index_version(&h, ext);
	header_to_le(&h);
	memcpy(buf, &h, HDR_SIZE);
	p = buf + HDR_SIZE;
	for (uint64_t i = 0; i < hdr->nr_extents; i++, p += EXT_SIZE) {
		struct gmemfs_snap_extent e = {
			.offset = htole64(ext[i].offset), .length = htole64(ext[i].length),
			.type = htole32(ext[i].type), .crc = htole32(ext[i].crc),
		};
		memcpy(p, &e, EXT_SIZE);
	}
	for (uint64_t i = 0; i < hdr->nr_ws; i++, p += WS_SIZE) {
		uint64_t v = htole64(ws[i]);

		memcpy(p, &v, WS_SIZE);
	}
	for (uint64_t i = 0; hdr->flags & GMEMFS_SNAP_F_WS_DATA && i < hdr->nr_ws; i++, p += CRC_SIZE) {
		uint32_t v = htole32(ws_crc[i]);

		memcpy(p, &v, CRC_SIZE);
	}
	crc = htole32(gm_crc32c(0, buf, len - CRC_SIZE));
	memcpy(p, &crc, CRC_SIZE);
	*outlen = len;
	return buf;
}

int gm_snap_index_write(int idx_fd, const struct gmemfs_snap_header *h,
			const struct gmemfs_snap_extent *ext, const uint64_t *ws,
			const uint32_t *ws_crc, char why[GM_SNAP_WHY_MAX])
{
	size_t len, done = 0;
	void *buf;
	int err = 0;

	buf = index_build(h, ext, ws, ws_crc, &len);
	if (!buf)
		return gm_snap_why(why, "out of memory for the index"), -ENOMEM;
	while (done < len && !err) {
		ssize_t n = pwrite(idx_fd, (char *)buf + done, len - done, done);

		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			done += n;
	}
	if (!err && ftruncate(idx_fd, (off_t)index_file_len(h)))
		err = -errno;
	if (!err && fsync(idx_fd))
		err = -errno;
	if (err)
		gm_snap_why(why, "writing the index: %s", strerror(-err));
	free(buf);
	return err;
}

/* ---- Storing a working set ---- */

/* The working set's bytes, slot i the memory of chunk_offs[i], written
 * at off of the index file (after where the new index ends), each
 * slot's crc into crcs. */
static int ws_data_write(struct gm_snap *s, int fd, uint64_t off, const uint64_t *chunk_offs,
			 size_t n, uint32_t *crcs, char *why)
{
	struct gm_snap_reader rd;
	uint8_t *buf = malloc(s->chunk_size);
	int err = buf ? gm_snap_reader_init(&rd, s) : -ENOMEM;

	if (err) {
		free(buf);
		return gm_snap_why(why, "out of memory for the working set's bytes"), err;
	}
	for (size_t i = 0; i < n && !err; i++) {
		uint64_t len = s->mem_size - chunk_offs[i];

		len = len < s->chunk_size ? len : s->chunk_size;
		memset(buf + len, 0, s->chunk_size - len);
		err = gm_snap_read(&rd, chunk_offs[i], buf, len, NULL, why);
		crcs[i] = gm_crc32c(0, buf, len);
		for (size_t done = 0; !err && done < s->chunk_size;) {
			ssize_t w = pwrite(fd, buf + done, s->chunk_size - done,
					   (off_t)(off + i * s->chunk_size + done));

			if (w < 0 && errno != EINTR) {
				err = -errno;
				gm_snap_why(why, "writing the working set's bytes: %s", strerror(errno));
			}
			done += w > 0 ? (size_t)w : 0;
		}
	}
	if (!err && fdatasync(fd))
		err = -errno, gm_snap_why(why, "writing the working set's bytes: %s", strerror(errno));
	gm_snap_reader_fini(&rd);
	free(buf);
	return err;
}

/*
 * Rewritten in place, since we hold only the fd: the working set's bytes
 * first, then the index that points at them.  A crash half-way leaves an
 * index whose crc fails, which every reader refuses, rather than one that
 * reads wrong; the bytes' own crcs catch a copy that did not reach the
 * disk (a reader then reads the image instead).
 */
int gm_snap_store_ws(struct gm_snap *s, const uint64_t *chunk_offs, size_t n,
		     char why[GM_SNAP_WHY_MAX])
{
	struct gm_snap_layer *l = &s->layers[0];
	struct gmemfs_snap_header h;
	struct gmemfs_snap_ws *ws;
	uint32_t *crcs;
	int err;

	if (!s->nlayers)
		return gm_snap_why(why, "no snapshot open"), -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (chunk_offs[i] % s->chunk_size || chunk_offs[i] >= s->mem_size)
			return gm_snap_why(why, "working-set entry %zu (%#" PRIx64 "): not a chunk of the memory",
				       i, chunk_offs[i]), -EINVAL;
	ws = malloc(n ? n * WS_SIZE : 1);
	crcs = n ? malloc(n * CRC_SIZE) : NULL;
	if (!ws || (n && !crcs)) {
		free(ws);
		free(crcs);
		return gm_snap_why(why, "out of memory for the working set"), -ENOMEM;
	}
	h = l->hdr;
	h.nr_ws = n;
	h.flags &= ~GMEMFS_SNAP_F_WS_DATA;
	h.ws_data_offset = 0;
	if (n) {
		h.flags |= GMEMFS_SNAP_F_WS_DATA;
		h.ws_data_offset = ws_data_offset(index_len(&h));
	}
	err = n ? ws_data_write(s, l->idx_fd, h.ws_data_offset, chunk_offs, n, crcs, why) : 0;
	if (!err)
		err = gm_snap_index_write(l->idx_fd, &h, l->ext, chunk_offs, crcs, why);
	if (err) {
		free(ws);
		free(crcs);
		return err;
	}
	for (size_t i = 0; i < n; i++)
		ws[i].offset = chunk_offs[i];
	free(l->ws);
	free(l->ws_crc);
	l->ws = ws;
	l->ws_crc = crcs;
	l->hdr = h;
	l->hdr.version = gm_snap_index_version(&l->hdr, l->ext);
	return 0;
}
