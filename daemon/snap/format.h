/*
 * Reading snapshots (uapi/gmemfs_snap.h): loading and checking an index,
 * following a chain of layers to the memory it describes, and reading that
 * memory a chunk range at a time with every checksum verified.  Shared by
 * eager restore, lazy restore (the fault and prefetch threads read at the
 * same time: a gm_snap is read-only after gm_snap_open and each thread has
 * its own gm_snap_reader), and the tests.
 *
 * Not for: writing snapshots (write.c) or restoring them
 * (restore.c, uffd/).
 */
#ifndef GM_SNAPFMT_H
#define GM_SNAPFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gmemfs_snap.h"

#define GM_SNAP_WHY_MAX	160
/* Write the reason a snapshot call failed into why. */
#define gm_snap_why(why, ...)	snprintf(why, GM_SNAP_WHY_MAX, __VA_ARGS__)

/* One layer: a snapshot's image and index. */
struct gm_snap_layer {
	int img_fd;				/* borrowed; the caller closes */
	int idx_fd;				/* borrowed */
	struct gmemfs_snap_header hdr;
	struct gmemfs_snap_extent *ext;		/* hdr.nr_extents, sorted */
	struct gmemfs_snap_ws *ws;		/* hdr.nr_ws */
	uint32_t *ws_crc;			/* GMEMFS_SNAP_F_WS_DATA: hdr.nr_ws crcs of
						 * the working set's bytes; else NULL */
};

/* A piece of the memory after the chain is resolved: [off, off + len) is
 * DATA of layer `layer` (extent `ext` of that layer), or ZERO. */
struct gm_snap_piece {
	uint64_t off;
	uint64_t len;
	uint32_t type;				/* GMEMFS_SNAP_EXT_* */
	uint16_t layer;				/* DATA: index into layers[] */
	uint32_t ext;				/* DATA: index into that layer's ext */
};

/* A range of the memory, in bytes. */
struct gm_snap_range {
	uint64_t off, len;
};

/* A snapshot ready to be read: layers[0] is the snapshot named by the
 * user, layers[i + 1] the parent of layers[i]. */
struct gm_snap {
	unsigned nlayers;
	struct gm_snap_layer layers[GMEMFS_SNAP_MAX_DEPTH];
	uint64_t mem_size;			/* layers[0]'s */
	uint32_t page_size;
	uint32_t chunk_size;
	struct gm_snap_piece *pieces;		/* DATA, sorted; gaps are zero */
	size_t npieces;
	struct gm_snap_range *priv;		/* the PRIVATE ranges after the chain
						 * is resolved, sorted, merged; they
						 * read as zero */
	size_t npriv;
};

/* Does [off, off + len) touch a PRIVATE range of s? */
bool gm_snap_private_in(const struct gm_snap *s, uint64_t off, uint64_t len);
/* The lowest version describing an index (4: the secret mark; 3: PRIVATE
 * extents; 2: the working set's bytes; else 1). */
unsigned gm_snap_index_version(const struct gmemfs_snap_header *h,
			       const struct gmemfs_snap_extent *ext);

/* Load one index from idx_fd and check it against its image: magic,
 * version, sizes, flags, reserved bits, the index crc, extents sorted,
 * within mem_size, page-aligned, inside one chunk; the image's size equals
 * mem_size.  Does not read the image's bytes.  0 or -errno (-EINVAL for a
 * malformed or corrupt index, -EIO for a read error, -ENOMEM) with the
 * reason in why. */
int gm_snap_layer_load(struct gm_snap_layer *l, int img_fd, int idx_fd,
		       char why[GM_SNAP_WHY_MAX]);
void gm_snap_layer_free(struct gm_snap_layer *l);

/* Load a chain: fds are img0, idx0, img1, idx1, ... (nfds even, at most
 * 2 * GMEMFS_SNAP_MAX_DEPTH), borrowed for the gm_snap's life.  Checks
 * that each layer's parent_uuid is the next layer's uuid, that the chain
 * ends in a full snapshot, and that all layers agree on mem_size,
 * page_size and chunk_size; then resolves the pieces.  0 or -errno (with
 * why): -EINVAL (malformed, a broken chain, a missing parent). */
int gm_snap_open(struct gm_snap *s, const int *fds, unsigned nfds, char why[GM_SNAP_WHY_MAX]);
void gm_snap_close(struct gm_snap *s);

/* Per-thread state for reading: scratch of one chunk per layer. */
struct gm_snap_reader {
	const struct gm_snap *s;
	void *scratch;
	size_t scratch_len;
};
int gm_snap_reader_init(struct gm_snap_reader *rd, const struct gm_snap *s);
void gm_snap_reader_fini(struct gm_snap_reader *rd);

/* Read the memory [off, off + len) into buf: off a multiple of chunk_size,
 * len a multiple of it too (or reaching mem_size).  Reads every layer's
 * extents that overlap with pread and verifies each DATA extent's crc
 * before any of its bytes are used.  *all_zero (if not NULL) tells that
 * the whole range is zero (no DATA piece), so a caller may place zero
 * pages without looking at buf.  0, or -errno with why: -EIO for a
 * checksum mismatch or a short image (naming the layer and extent),
 * -EINVAL for a range outside the rules. */
int gm_snap_read(struct gm_snap_reader *rd, uint64_t off, void *buf, size_t len,
		 bool *all_zero, char why[GM_SNAP_WHY_MAX]);

/* Replace layers[0]'s working set with n chunk offsets, rewriting its
 * index in place (its idx_fd must be open for writing): the chunks' bytes
 * (read from the chain, verified) stored after the index in that order
 * (GMEMFS_SNAP_F_WS_DATA, version 2), then the index with their crcs and
 * its own, then fsync.  0 or -errno with why. */
int gm_snap_store_ws(struct gm_snap *s, const uint64_t *chunk_offs, size_t n,
		     char why[GM_SNAP_WHY_MAX]);

/* Write a whole index to idx_fd: h in host order (its nr_extents and
 * nr_ws say how many of ext and ws follow; with F_WS_DATA, ws_crc has
 * nr_ws crcs, and the working set's bytes are at h->ws_data_offset
 * already), encoded little-endian with the lowest version that describes
 * it, the crc appended, the file cut to its length and fsync'ed.  Shared by the writer
 * (write.c) and gm_snap_store_ws, so the encoding lives here once.
 * 0 or -errno with why. */
int gm_snap_index_write(int idx_fd, const struct gmemfs_snap_header *h,
			const struct gmemfs_snap_extent *ext, const uint64_t *ws,
			const uint32_t *ws_crc, char why[GM_SNAP_WHY_MAX]);

/* Was the memory secret: is any layer of the chain marked so?  A child
 * of a secret parent resolves to the parent's bytes, so it counts too. */
static inline bool gm_snap_secret(const struct gm_snap *s)
{
	for (unsigned i = 0; i < s->nlayers; i++)
		if (s->layers[i].hdr.flags & GMEMFS_SNAP_F_SECRET)
			return true;
	return false;
}

/* Layer 0's working set has its bytes stored in its index file. */
static inline bool gm_snap_has_ws_data(const struct gm_snap *s)
{
	return s->nlayers && s->layers[0].hdr.flags & GMEMFS_SNAP_F_WS_DATA;
}

/* Are all len bytes at p zero?  (Zero pages are never written or placed.) */
bool gm_snap_zero(const void *p, size_t n);

#endif
