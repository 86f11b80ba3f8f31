/*
 * Unit tests for the snapshot reader (daemon/snap/format.c): CRC-32C against
 * known vectors and a bit-at-a-time oracle, an index built by hand here
 * (not by daemon/snap/write.c) loaded back field by field, every corruption the
 * loader must refuse with its reason, chains whose newer layers override
 * older ones, and reads that verify each extent's checksum.
 *
 * Not for: writing snapshots from a file's memory (t-snapshot.sh).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "fixture.h"
#include "snap/format.h"
#include "suites.h"

#define PG	4096u
#define CHUNK	65536u
#define MEM	(16 * CHUNK)

/* ---- Oracles written independently of daemon/snap/format.c ---- */

/* A layer as a test builds it: the memory it describes in full (mem),
 * the extents it lists, and the files. */
struct tlayer {
	struct gmemfs_snap_header h;
	struct gmemfs_snap_extent ext[32];
	uint64_t ws[8];
	unsigned n, nws;
	uint8_t *img;			/* MEM bytes: what the image holds */
	int img_fd, idx_fd;
};

static void tl_init(struct tlayer *t, uint8_t uuid_byte)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->h.magic, GMEMFS_SNAP_MAGIC, 8);
	/* Built as version 1: what every snapshot before the working set's
	 * bytes were stored is, and what one without them still is. */
	t->h.version = 1;
	t->h.header_size = sizeof(t->h);
	t->h.mem_size = MEM;
	t->h.page_size = PG;
	t->h.chunk_size = CHUNK;
	memset(t->h.uuid, uuid_byte, 16);
	t->img = calloc(1, MEM);
	ck_assert_ptr_nonnull(t->img);
	t->img_fd = memfd_create("img", 0);
	t->idx_fd = memfd_create("idx", 0);
	ck_assert_int_ge(t->img_fd, 0);
	ck_assert_int_ge(t->idx_fd, 0);
}

static void tl_parent(struct tlayer *t, const struct tlayer *parent)
{
	t->h.flags |= GMEMFS_SNAP_F_PARENT;
	memcpy(t->h.parent_uuid, parent->h.uuid, 16);
	snprintf(t->h.parent, sizeof(t->h.parent), "parent.snap");
}

/* A DATA extent filled with bytes derived from seed, or a ZERO one. */
static void tl_extent(struct tlayer *t, uint64_t off, uint64_t len, uint32_t type, uint8_t seed)
{
	struct gmemfs_snap_extent *e = &t->ext[t->n++];

	e->offset = off;
	e->length = len;
	e->type = type;
	if (type == GMEMFS_SNAP_EXT_DATA) {
		for (uint64_t i = 0; i < len; i++)
			t->img[off + i] = (uint8_t)(seed + i * 7 + (i >> 12));
		e->crc = ck_ref_crc32c(t->img + off, len);
		t->h.data_bytes += len;
	}
}

/* Write the image and the index as the format says, with the crc. */
static void tl_write(struct tlayer *t)
{
	size_t len = sizeof(t->h) + t->n * sizeof(t->ext[0]) + t->nws * 8 + 4;
	uint8_t *buf = malloc(len);
	uint32_t crc;

	ck_assert_ptr_nonnull(buf);
	t->h.nr_extents = t->n;
	t->h.nr_ws = t->nws;
	memcpy(buf, &t->h, sizeof(t->h));
	memcpy(buf + sizeof(t->h), t->ext, t->n * sizeof(t->ext[0]));
	memcpy(buf + sizeof(t->h) + t->n * sizeof(t->ext[0]), t->ws, t->nws * 8);
	crc = ck_ref_crc32c(buf, len - 4);
	memcpy(buf + len - 4, &crc, 4);
	ck_assert_int_eq(ftruncate(t->idx_fd, 0), 0);
	ck_assert_int_eq(pwrite(t->idx_fd, buf, len, 0), (ssize_t)len);
	ck_assert_int_eq(ftruncate(t->img_fd, 0), 0);
	ck_assert_int_eq(ftruncate(t->img_fd, MEM), 0);
	/* A corruption may have moved an extent off the memory: no bytes. */
	for (unsigned i = 0; i < t->n; i++)
		if (t->ext[i].type == GMEMFS_SNAP_EXT_DATA &&
		    t->ext[i].offset + t->ext[i].length <= MEM)
			ck_assert_int_eq(pwrite(t->img_fd, t->img + t->ext[i].offset, t->ext[i].length,
						t->ext[i].offset), (ssize_t)t->ext[i].length);
	free(buf);
}

static void tl_free(struct tlayer *t)
{
	free(t->img);
	close(t->img_fd);
	close(t->idx_fd);
}

/* The usual full layer: DATA in chunks 0, 1 (two extents), 5 and the
 * last page of the memory. */
static void tl_full(struct tlayer *t, uint8_t uuid_byte)
{
	tl_init(t, uuid_byte);
	tl_extent(t, 0, CHUNK, GMEMFS_SNAP_EXT_DATA, 1);
	tl_extent(t, CHUNK, 3 * PG, GMEMFS_SNAP_EXT_DATA, 2);
	tl_extent(t, CHUNK + 8 * PG, 8 * PG, GMEMFS_SNAP_EXT_DATA, 3);
	tl_extent(t, 5 * CHUNK + PG, PG, GMEMFS_SNAP_EXT_DATA, 4);
	tl_extent(t, MEM - PG, PG, GMEMFS_SNAP_EXT_DATA, 5);
}

static int load(struct tlayer *t, char *why)
{
	struct gm_snap_layer l;
	int err = gm_snap_layer_load(&l, t->img_fd, t->idx_fd, why);

	if (!err)
		gm_snap_layer_free(&l);
	return err;
}

/* The whole memory read back a chunk at a time must equal want. */
static void read_all_eq(const struct gm_snap *s, const uint8_t *want)
{
	struct gm_snap_reader rd;
	char why[GM_SNAP_WHY_MAX];
	uint8_t *buf = malloc(CHUNK);
	bool zero;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(gm_snap_reader_init(&rd, s), 0);
	for (uint64_t off = 0; off < MEM; off += CHUNK) {
		memset(buf, 0xee, CHUNK);
		ck_assert_msg(gm_snap_read(&rd, off, buf, CHUNK, &zero, why) == 0,
			      "read at %#lx: %s", (unsigned long)off, why);
		ck_assert_msg(!memcmp(buf, want + off, CHUNK), "chunk at %#lx differs",
			      (unsigned long)off);
		for (unsigned i = 0; zero && i < CHUNK; i++)
			ck_assert_msg(!buf[i], "all_zero on a chunk with data at %#lx",
				      (unsigned long)off);
	}
	gm_snap_reader_fini(&rd);
	free(buf);
}

/* ---- CRC-32C ---- */

START_TEST(test_crc32c_vectors)
{
	static const uint8_t zeros[32], ones[32] = {
		[0 ... 31] = 0xff,
	};
	uint8_t buf[4099];

	ck_assert_uint_eq(gm_crc32c(0, "123456789", 9), 0xe3069283);
	ck_assert_uint_eq(gm_crc32c_table(0, "123456789", 9), 0xe3069283);
	ck_assert_uint_eq(gm_crc32c(0, "", 0), 0);
	/* RFC 3720 B.4 */
	ck_assert_uint_eq(gm_crc32c(0, zeros, 32), 0x8a9136aa);
	ck_assert_uint_eq(gm_crc32c(0, ones, 32), 0x62a8ab43);
	/* Continuing: crc(a || b) from crc(a). */
	ck_assert_uint_eq(gm_crc32c(gm_crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	/* Every alignment and tail length, both paths, against the oracle. */
	for (size_t start = 0; start < 9; start++)
		for (size_t len = 0; len < 40; len++) {
			uint32_t want = ck_ref_crc32c(buf + start, len);

			ck_assert_uint_eq(gm_crc32c(0, buf + start, len), want);
			ck_assert_uint_eq(gm_crc32c_table(0, buf + start, len), want);
		}
	ck_assert_uint_eq(gm_crc32c(0, buf + 3, 4096), ck_ref_crc32c(buf + 3, 4096));
	ck_assert_uint_eq(gm_crc32c_table(0, buf + 3, 4096), ck_ref_crc32c(buf + 3, 4096));
}
END_TEST

/* ---- One layer ---- */

START_TEST(test_roundtrip)
{
	struct tlayer t;
	struct gm_snap_layer l;
	struct gm_snap s;
	char why[GM_SNAP_WHY_MAX];
	int fds[2];

	tl_full(&t, 0x11);
	t.ws[t.nws++] = 5 * CHUNK;
	t.ws[t.nws++] = 0;
	t.h.provider = 3;
	t.h.created_ns = 123456789;
	tl_write(&t);
	ck_assert_msg(gm_snap_layer_load(&l, t.img_fd, t.idx_fd, why) == 0, "%s", why);
	ck_assert_uint_eq(l.hdr.mem_size, MEM);
	ck_assert_uint_eq(l.hdr.nr_extents, 5);
	ck_assert_uint_eq(l.hdr.nr_ws, 2);
	ck_assert_uint_eq(l.hdr.provider, 3);
	ck_assert_uint_eq(l.hdr.created_ns, 123456789);
	ck_assert_uint_eq(l.hdr.data_bytes, CHUNK + 11 * PG + 2 * PG);
	ck_assert_uint_eq(l.ext[2].offset, CHUNK + 8 * PG);
	ck_assert_uint_eq(l.ext[2].crc, t.ext[2].crc);
	ck_assert_uint_eq(l.ws[0].offset, 5 * CHUNK);
	gm_snap_layer_free(&l);

	fds[0] = t.img_fd;
	fds[1] = t.idx_fd;
	ck_assert_msg(gm_snap_open(&s, fds, 2, why) == 0, "%s", why);
	ck_assert_uint_eq(s.npieces, 5);
	read_all_eq(&s, t.img);
	gm_snap_close(&s);
	tl_free(&t);
}
END_TEST

/* A corruption of the usual layer and the words its refusal must say. */
struct corruption {
	const char *name;
	void (*apply)(struct tlayer *t);
	bool raw;			/* applied to the written index, crc kept */
	const char *reason;
};

static void c_magic(struct tlayer *t) { t->h.magic[0] = 'X'; }
static void c_version(struct tlayer *t) { t->h.version = 5; }
static void c_v3_secret(struct tlayer *t) { t->h.version = 3; t->h.flags |= GMEMFS_SNAP_F_SECRET; }
static void c_v1_ws_data(struct tlayer *t) { t->h.flags |= GMEMFS_SNAP_F_WS_DATA; }
static void c_ws_data_offset(struct tlayer *t) { t->h.version = 2; t->h.ws_data_offset = 4096; }
static void c_hsize(struct tlayer *t) { t->h.header_size = 100; }
static void c_page(struct tlayer *t) { t->h.page_size = 3000; }
static void c_chunk(struct tlayer *t) { t->h.chunk_size = PG / 2; }
static void c_flags(struct tlayer *t) { t->h.flags |= 1u << 5; }
static void c_reserved(struct tlayer *t) { t->h.reserved[3] = 1; }
static void c_parent_uuid(struct tlayer *t) { t->h.flags |= GMEMFS_SNAP_F_PARENT; }
static void c_unsorted(struct tlayer *t)
{
	struct gmemfs_snap_extent e = t->ext[1];

	t->ext[1] = t->ext[2];
	t->ext[2] = e;
}
static void c_overlap(struct tlayer *t) { t->ext[2].offset = CHUNK + 2 * PG; }
static void c_cross(struct tlayer *t) { t->ext[3].offset = 5 * CHUNK + CHUNK - PG; t->ext[3].length = 2 * PG; }
static void c_unaligned(struct tlayer *t) { t->ext[3].offset += 512; }
static void c_beyond(struct tlayer *t) { t->ext[4].offset = MEM; }
static void c_type(struct tlayer *t) { t->ext[3].type = 9; }
static void c_zero_crc(struct tlayer *t) { t->ext[3].type = GMEMFS_SNAP_EXT_ZERO; t->h.data_bytes -= PG; }
static void c_v1_private(struct tlayer *t) { t->ext[3].type = GMEMFS_SNAP_EXT_PRIVATE; t->ext[3].crc = 0; t->h.data_bytes -= PG; }
static void c_data_bytes(struct tlayer *t) { t->h.data_bytes += PG; }
static void c_ws(struct tlayer *t) { t->ws[t->nws++] = PG; }

static void raw_flip_extent(struct tlayer *t)
{
	uint8_t b;
	off_t at = sizeof(t->h) + 2 * sizeof(t->ext[0]) + 1;

	ck_assert_int_eq(pread(t->idx_fd, &b, 1, at), 1);
	b ^= 0x40;
	ck_assert_int_eq(pwrite(t->idx_fd, &b, 1, at), 1);
}
static void raw_truncate_index(struct tlayer *t) { ck_assert_int_eq(ftruncate(t->idx_fd, sizeof(t->h) + 30), 0); }
static void raw_short_index(struct tlayer *t) { ck_assert_int_eq(ftruncate(t->idx_fd, 40), 0); }
static void raw_trailing(struct tlayer *t)
{
	off_t end = lseek(t->idx_fd, 0, SEEK_END);

	ck_assert_int_eq(pwrite(t->idx_fd, "x", 1, end), 1);
}
static void raw_too_many(struct tlayer *t)
{
	uint64_t n = MEM;

	ck_assert_int_eq(pwrite(t->idx_fd, &n, 8, offsetof(struct gmemfs_snap_header, nr_extents)), 8);
}
static void raw_truncate_image(struct tlayer *t) { ck_assert_int_eq(ftruncate(t->img_fd, MEM - PG), 0); }

static const struct corruption corruptions[] = {
	{ "magic", c_magic, false, "bad magic" },
	{ "version", c_version, false, "version 5" },
	{ "secret in version 3", c_v3_secret, false, "version 3 index with version 4's secret" },
	{ "version 1 with the working set's bytes", c_v1_ws_data, false, "version 1 index with" },
	{ "working-set bytes without the flag", c_ws_data_offset, false, "disagree" },
	{ "header size", c_hsize, false, "header size 100" },
	{ "page size", c_page, false, "bad page size" },
	{ "chunk size", c_chunk, false, "bad chunk size" },
	{ "flags", c_flags, false, "unknown flags" },
	{ "reserved", c_reserved, false, "reserved" },
	{ "parent uuid", c_parent_uuid, false, "parent flag and parent uuid" },
	{ "unsorted", c_unsorted, false, "not sorted" },
	{ "overlap", c_overlap, false, "overlapping" },
	{ "chunk crossing", c_cross, false, "crosses a chunk" },
	{ "unaligned", c_unaligned, false, "not whole pages" },
	{ "beyond", c_beyond, false, "outside" },
	{ "type", c_type, false, "unknown type" },
	{ "zero with crc", c_zero_crc, false, "private extent with a crc" },
	{ "private in version 1", c_v1_private, false, "unknown type 3 in a version 1" },
	{ "data bytes", c_data_bytes, false, "data_bytes" },
	{ "ws entry", c_ws, false, "working-set entry" },
	{ "too many extents", raw_too_many, true, "too many" },
	{ "index crc", raw_flip_extent, true, "checksum mismatch" },
	{ "truncated index", raw_truncate_index, true, "truncated" },
	{ "short index", raw_short_index, true, "truncated" },
	{ "trailing bytes", raw_trailing, true, "trailing" },
	{ "truncated image", raw_truncate_image, true, "truncated image" },
};

START_TEST(test_corruption_refused)
{
	const struct corruption *c = &corruptions[_i];
	char why[GM_SNAP_WHY_MAX] = "";
	struct tlayer t;
	int err;

	tl_full(&t, 0x22);
	if (!c->raw)
		c->apply(&t);
	tl_write(&t);
	if (c->raw)
		c->apply(&t);
	err = load(&t, why);
	ck_assert_msg(err == -EINVAL, "%s: %d (%s)", c->name, err, why);
	ck_assert_msg(strstr(why, c->reason), "%s: reason '%s' lacks '%s'", c->name, why, c->reason);
	tl_free(&t);
}
END_TEST

/* ---- Reading ---- */

START_TEST(test_read_verifies_crc)
{
	char why[GM_SNAP_WHY_MAX];
	struct gm_snap_reader rd;
	struct tlayer t;
	struct gm_snap s;
	uint8_t *buf = malloc(CHUNK), b = 0x5a;
	int fds[2];

	tl_full(&t, 0x33);
	tl_write(&t);
	/* A byte of extent 2 changes after the index was written. */
	ck_assert_int_eq(pwrite(t.img_fd, &b, 1, CHUNK + 9 * PG + 17), 1);
	fds[0] = t.img_fd;
	fds[1] = t.idx_fd;
	ck_assert_msg(gm_snap_open(&s, fds, 2, why) == 0, "%s", why);
	ck_assert_int_eq(gm_snap_reader_init(&rd, &s), 0);
	ck_assert_int_eq(gm_snap_read(&rd, 0, buf, CHUNK, NULL, why), 0);
	ck_assert_int_eq(gm_snap_read(&rd, CHUNK, buf, CHUNK, NULL, why), -EIO);
	ck_assert_msg(strstr(why, "layer 0 extent 2") && strstr(why, "checksum mismatch"), "%s", why);
	/* Outside the rules: not chunk-aligned, beyond the memory. */
	ck_assert_int_eq(gm_snap_read(&rd, PG, buf, CHUNK, NULL, why), -EINVAL);
	ck_assert_int_eq(gm_snap_read(&rd, MEM, buf, CHUNK, NULL, why), -EINVAL);
	/* The image shrinks under an open snapshot: a short read, not zeros. */
	ck_assert_int_eq(ftruncate(t.img_fd, 5 * CHUNK + PG + 100), 0);
	ck_assert_int_eq(gm_snap_read(&rd, 5 * CHUNK, buf, CHUNK, NULL, why), -EIO);
	ck_assert_msg(strstr(why, "layer 0 extent 3") && strstr(why, "image short"), "%s", why);
	gm_snap_reader_fini(&rd);
	gm_snap_close(&s);
	tl_free(&t);
	free(buf);
}
END_TEST

START_TEST(test_read_all_zero)
{
	char why[GM_SNAP_WHY_MAX];
	struct gm_snap_reader rd;
	struct tlayer t;
	struct gm_snap s;
	uint8_t *buf = malloc(2 * CHUNK);
	bool zero = false;
	int fds[2];

	tl_full(&t, 0x44);
	tl_write(&t);
	fds[0] = t.img_fd;
	fds[1] = t.idx_fd;
	ck_assert_msg(gm_snap_open(&s, fds, 2, why) == 0, "%s", why);
	ck_assert_int_eq(gm_snap_reader_init(&rd, &s), 0);
	memset(buf, 0xee, 2 * CHUNK);
	ck_assert_int_eq(gm_snap_read(&rd, 2 * CHUNK, buf, 2 * CHUNK, &zero, why), 0);
	ck_assert(zero);
	for (unsigned i = 0; i < 2 * CHUNK; i++)
		ck_assert_uint_eq(buf[i], 0);
	ck_assert_int_eq(gm_snap_read(&rd, 4 * CHUNK, buf, 2 * CHUNK, &zero, why), 0);
	ck_assert(!zero);
	gm_snap_reader_fini(&rd);
	gm_snap_close(&s);
	tl_free(&t);
	free(buf);
}
END_TEST

/* ---- Chains ---- */

/* grand (full) <- parent <- child; want = the memory the child means,
 * fds = the chain as gm_snap_open takes it. */
static void chain3(struct tlayer t[3], uint8_t *want, int fds[6])
{
	tl_full(&t[2], 0xa0);
	tl_init(&t[1], 0xa1);
	tl_parent(&t[1], &t[2]);
	/* The middle of extent 0 of the grandparent, and all of chunk 1's
	 * second extent plus the gap before it. */
	tl_extent(&t[1], 4 * PG, 2 * PG, GMEMFS_SNAP_EXT_DATA, 0x31);
	tl_extent(&t[1], CHUNK + 4 * PG, 12 * PG, GMEMFS_SNAP_EXT_DATA, 0x32);
	tl_extent(&t[1], 7 * CHUNK, PG, GMEMFS_SNAP_EXT_DATA, 0x33);
	tl_init(&t[0], 0xa2);
	tl_parent(&t[0], &t[1]);
	/* Zero over grandparent data, over parent data, and new data that
	 * splits a parent extent. */
	tl_extent(&t[0], 0, PG, GMEMFS_SNAP_EXT_ZERO, 0);
	tl_extent(&t[0], 5 * PG, PG, GMEMFS_SNAP_EXT_ZERO, 0);
	tl_extent(&t[0], CHUNK + 6 * PG, PG, GMEMFS_SNAP_EXT_DATA, 0x41);
	tl_extent(&t[0], MEM - PG, PG, GMEMFS_SNAP_EXT_ZERO, 0);
	for (int i = 2; i >= 0; i--) {
		for (unsigned e = 0; e < t[i].n; e++) {
			const struct gmemfs_snap_extent *x = &t[i].ext[e];

			if (x->type == GMEMFS_SNAP_EXT_DATA)
				memcpy(want + x->offset, t[i].img + x->offset, x->length);
			else
				memset(want + x->offset, 0, x->length);
		}
		tl_write(&t[i]);
		fds[2 * i] = t[i].img_fd;
		fds[2 * i + 1] = t[i].idx_fd;
	}
}

START_TEST(test_chain_override)
{
	uint8_t *want = calloc(1, MEM);
	char why[GM_SNAP_WHY_MAX];
	struct tlayer t[3];
	struct gm_snap s;
	int fds[6];

	chain3(t, want, fds);
	ck_assert_msg(gm_snap_open(&s, fds, 6, why) == 0, "%s", why);
	ck_assert_uint_eq(s.nlayers, 3);
	for (size_t i = 0; i < s.npieces; i++) {
		ck_assert_uint_eq(s.pieces[i].type, GMEMFS_SNAP_EXT_DATA);
		if (i)
			ck_assert_uint_ge(s.pieces[i].off,
					  s.pieces[i - 1].off + s.pieces[i - 1].len);
	}
	read_all_eq(&s, want);
	gm_snap_close(&s);
	/* The parent's view alone: two layers. */
	memset(want, 0, MEM);
	for (int i = 2; i >= 1; i--)
		for (unsigned e = 0; e < t[i].n; e++)
			memcpy(want + t[i].ext[e].offset, t[i].img + t[i].ext[e].offset,
			       t[i].ext[e].length);
	ck_assert_msg(gm_snap_open(&s, fds + 2, 4, why) == 0, "%s", why);
	read_all_eq(&s, want);
	gm_snap_close(&s);
	for (int i = 0; i < 3; i++)
		tl_free(&t[i]);
	free(want);
}
END_TEST

/* A PRIVATE extent (version 3) over the parent's data: the chain lists it
 * in priv, merged across chunks, and reads it as zero; the parent's data
 * around it shows through. */
START_TEST(test_private_extents)
{
	uint8_t *want = calloc(1, MEM);
	char why[GM_SNAP_WHY_MAX];
	struct tlayer t[2];
	struct gm_snap s;
	int fds[4];

	tl_full(&t[1], 0x22);
	tl_init(&t[0], 0x11);
	tl_parent(&t[0], &t[1]);
	t[0].h.version = 3;
	tl_extent(&t[0], CHUNK - 2 * PG, 2 * PG, GMEMFS_SNAP_EXT_PRIVATE, 0);
	tl_extent(&t[0], CHUNK, 2 * PG, GMEMFS_SNAP_EXT_PRIVATE, 0);
	for (int i = 0; i < 2; i++) {
		tl_write(&t[i]);
		fds[2 * i] = t[i].img_fd;
		fds[2 * i + 1] = t[i].idx_fd;
	}
	for (unsigned e = 0; e < t[1].n; e++)
		memcpy(want + t[1].ext[e].offset, t[1].img + t[1].ext[e].offset,
		       t[1].ext[e].length);
	memset(want + CHUNK - 2 * PG, 0, 4 * PG);
	ck_assert_msg(gm_snap_open(&s, fds, 4, why) == 0, "%s", why);
	ck_assert_uint_eq(s.npriv, 1);
	ck_assert_uint_eq(s.priv[0].off, CHUNK - 2 * PG);
	ck_assert_uint_eq(s.priv[0].len, 4 * PG);
	ck_assert(gm_snap_private_in(&s, CHUNK + PG, PG));
	ck_assert(!gm_snap_private_in(&s, CHUNK + 2 * PG, PG));
	read_all_eq(&s, want);
	gm_snap_close(&s);
	/* The same extents in a version 2 index: refused. */
	t[0].h.version = 2;
	tl_write(&t[0]);
	ck_assert_int_eq(gm_snap_open(&s, fds, 4, why), -EINVAL);
	ck_assert_msg(strstr(why, "unknown type 3"), "%s", why);
	for (int i = 0; i < 2; i++)
		tl_free(&t[i]);
	free(want);
}
END_TEST

/* The secret mark (version 4): an index with it is version 4 whatever
 * else it holds, a chain is secret if any layer is (a child of a secret
 * parent resolves to its bytes), and the mark loads back as written. */
START_TEST(test_secret_mark)
{
	char why[GM_SNAP_WHY_MAX];
	struct gmemfs_snap_header h = { .flags = GMEMFS_SNAP_F_SECRET };
	struct gmemfs_snap_extent priv = { .type = GMEMFS_SNAP_EXT_PRIVATE };
	struct tlayer t[2];
	struct gm_snap s;
	int fds[4];

	ck_assert_uint_eq(gm_snap_index_version(&h, NULL), 4);
	h.nr_extents = 1;
	ck_assert_uint_eq(gm_snap_index_version(&h, &priv), 4);
	h.flags = 0;
	ck_assert_uint_eq(gm_snap_index_version(&h, &priv), 3);
	tl_full(&t[1], 0x22);
	t[1].h.version = 4;
	t[1].h.flags |= GMEMFS_SNAP_F_SECRET;
	tl_init(&t[0], 0x11);
	tl_parent(&t[0], &t[1]);
	tl_extent(&t[0], 2 * CHUNK, PG, GMEMFS_SNAP_EXT_DATA, 9);
	for (int i = 0; i < 2; i++) {
		tl_write(&t[i]);
		fds[2 * i] = t[i].img_fd;
		fds[2 * i + 1] = t[i].idx_fd;
	}
	ck_assert_msg(gm_snap_open(&s, fds, 4, why) == 0, "%s", why);
	ck_assert(gm_snap_secret(&s));
	ck_assert(!(s.layers[0].hdr.flags & GMEMFS_SNAP_F_SECRET));
	ck_assert_uint_eq(s.layers[1].hdr.version, 4);
	gm_snap_close(&s);
	/* The parent alone: secret; a plain full snapshot: not. */
	ck_assert_msg(gm_snap_open(&s, fds + 2, 2, why) == 0, "%s", why);
	ck_assert(gm_snap_secret(&s));
	gm_snap_close(&s);
	t[1].h.version = 1;
	t[1].h.flags &= ~GMEMFS_SNAP_F_SECRET;
	tl_write(&t[1]);
	ck_assert_msg(gm_snap_open(&s, fds + 2, 2, why) == 0, "%s", why);
	ck_assert(!gm_snap_secret(&s));
	gm_snap_close(&s);
	/* Written by the daemon's encoder: version 4, the mark kept. */
	h = t[1].h;
	h.flags |= GMEMFS_SNAP_F_SECRET;
	h.nr_extents = t[1].n;
	h.nr_ws = 0;
	ck_assert_msg(gm_snap_index_write(t[1].idx_fd, &h, t[1].ext, NULL, NULL, why) == 0,
		      "%s", why);
	ck_assert_msg(gm_snap_open(&s, fds + 2, 2, why) == 0, "%s", why);
	ck_assert_uint_eq(s.layers[0].hdr.version, 4);
	ck_assert(s.layers[0].hdr.flags & GMEMFS_SNAP_F_SECRET);
	ck_assert(gm_snap_secret(&s));
	gm_snap_close(&s);
	for (int i = 0; i < 2; i++)
		tl_free(&t[i]);
}
END_TEST

START_TEST(test_chain_refused)
{
	uint8_t *want = calloc(1, MEM);
	char why[GM_SNAP_WHY_MAX];
	struct tlayer t[3], other;
	struct gm_snap s;
	int fds[6];

	chain3(t, want, fds);
	/* The chain stops short of a full snapshot. */
	ck_assert_int_eq(gm_snap_open(&s, fds, 4, why), -EINVAL);
	ck_assert_msg(strstr(why, "missing parent") && strstr(why, "layer 1"), "%s", why);
	/* A layer's parent is some other snapshot. */
	tl_full(&other, 0xbb);
	tl_write(&other);
	fds[4] = other.img_fd;
	fds[5] = other.idx_fd;
	ck_assert_int_eq(gm_snap_open(&s, fds, 6, why), -EINVAL);
	ck_assert_msg(strstr(why, "broken chain"), "%s", why);
	/* A full snapshot with more layers after it. */
	fds[0] = t[2].img_fd;
	fds[1] = t[2].idx_fd;
	fds[2] = other.img_fd;
	fds[3] = other.idx_fd;
	ck_assert_int_eq(gm_snap_open(&s, fds, 4, why), -EINVAL);
	ck_assert_msg(strstr(why, "full snapshot"), "%s", why);
	/* An odd number of fds, too many. */
	ck_assert_int_eq(gm_snap_open(&s, fds, 3, why), -EINVAL);
	ck_assert_int_eq(gm_snap_open(&s, fds, 2 * GMEMFS_SNAP_MAX_DEPTH + 2, why), -EINVAL);
	/* A bad layer deeper in the chain is named. */
	fds[0] = t[1].img_fd;
	fds[1] = t[1].idx_fd;
	fds[2] = t[2].img_fd;
	fds[3] = t[2].idx_fd;
	ck_assert_int_eq(ftruncate(t[2].idx_fd, 10), 0);
	ck_assert_int_eq(gm_snap_open(&s, fds, 4, why), -EINVAL);
	ck_assert_msg(strstr(why, "layer 1: index truncated"), "%s", why);
	for (int i = 0; i < 3; i++)
		tl_free(&t[i]);
	tl_free(&other);
	free(want);
}
END_TEST

/* A stored working set's bytes: version 2, at a 4 KiB boundary after the
 * index, slot i the memory of entry i (the oracle: the test's own copy),
 * with its crc, and the file ends with the last slot. */
static void check_ws_data(const struct tlayer *t, const struct gm_snap_layer *l,
			  const uint64_t *offs, unsigned n)
{
	uint64_t at = l->hdr.ws_data_offset;
	uint8_t *slot = malloc(CHUNK);

	ck_assert_ptr_nonnull(slot);
	ck_assert_uint_eq(l->hdr.version, 2);
	ck_assert(l->hdr.flags & GMEMFS_SNAP_F_WS_DATA);
	ck_assert_uint_eq(at % 4096, 0);
	ck_assert_uint_ge(at, sizeof(l->hdr) + l->hdr.nr_extents * sizeof(l->ext[0]) + n * 12 + 4);
	ck_assert_int_eq(lseek(t->idx_fd, 0, SEEK_END), (off_t)(at + n * CHUNK));
	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(pread(t->idx_fd, slot, CHUNK, (off_t)(at + i * CHUNK)), CHUNK);
		ck_assert_msg(!memcmp(slot, t->img + offs[i], CHUNK), "slot %u", i);
		ck_assert_uint_eq(l->ws_crc[i], ck_ref_crc32c(t->img + offs[i], CHUNK));
	}
	free(slot);
}

START_TEST(test_store_ws)
{
	uint64_t offs[3] = { 5 * CHUNK, 0, CHUNK }, bad = PG;
	char why[GM_SNAP_WHY_MAX];
	struct gm_snap_layer l;
	struct tlayer t;
	struct gm_snap s;
	int fds[2];

	tl_full(&t, 0x55);
	t.ws[t.nws++] = 2 * CHUNK;
	tl_write(&t);
	fds[0] = t.img_fd;
	fds[1] = t.idx_fd;
	ck_assert_msg(gm_snap_open(&s, fds, 2, why) == 0, "%s", why);
	ck_assert_int_eq(gm_snap_store_ws(&s, &bad, 1, why), -EINVAL);
	ck_assert_msg(gm_snap_store_ws(&s, offs, 3, why) == 0, "%s", why);
	ck_assert_uint_eq(s.layers[0].hdr.nr_ws, 3);
	gm_snap_close(&s);
	ck_assert_msg(gm_snap_layer_load(&l, t.img_fd, t.idx_fd, why) == 0, "%s", why);
	ck_assert_uint_eq(l.hdr.nr_ws, 3);
	ck_assert_uint_eq(l.ws[0].offset, 5 * CHUNK);
	ck_assert_uint_eq(l.ws[2].offset, CHUNK);
	ck_assert_uint_eq(l.hdr.nr_extents, 5);
	check_ws_data(&t, &l, offs, 3);
	gm_snap_layer_free(&l);
	/* The bytes cut short: the index no longer matches its file. */
	ck_assert_int_eq(ftruncate(t.idx_fd, lseek(t.idx_fd, 0, SEEK_END) - 1), 0);
	ck_assert_int_eq(gm_snap_layer_load(&l, t.img_fd, t.idx_fd, why), -EINVAL);
	ck_assert_msg(strstr(why, "truncated"), "%s", why);
	ck_assert_int_eq(ftruncate(t.idx_fd, lseek(t.idx_fd, 0, SEEK_END) + 1), 0);
	/* And shrinking it to nothing leaves no stale bytes behind: version 1
	 * again, readable by a daemon that knows nothing of the bytes. */
	ck_assert_msg(gm_snap_open(&s, fds, 2, why) == 0, "%s", why);
	ck_assert_msg(gm_snap_store_ws(&s, NULL, 0, why) == 0, "%s", why);
	gm_snap_close(&s);
	ck_assert_int_eq(load(&t, why), 0);
	ck_assert_msg(gm_snap_layer_load(&l, t.img_fd, t.idx_fd, why) == 0, "%s", why);
	ck_assert_uint_eq(l.hdr.version, 1);
	ck_assert_uint_eq(l.hdr.flags & GMEMFS_SNAP_F_WS_DATA, 0);
	ck_assert_int_eq(lseek(t.idx_fd, 0, SEEK_END), sizeof(l.hdr) + 5 * sizeof(l.ext[0]) + 4);
	gm_snap_layer_free(&l);
	tl_free(&t);
}
END_TEST

Suite *make_snapfmt_suite(void)
{
	Suite *s = suite_create("snapfmt");
	TCase *crc = tcase_create("crc32c");
	TCase *layer = tcase_create("layer");
	TCase *chain = tcase_create("chain");

	tcase_add_test(crc, test_crc32c_vectors);
	suite_add_tcase(s, crc);
	tcase_add_test(layer, test_roundtrip);
	tcase_add_loop_test(layer, test_corruption_refused, 0,
			    sizeof(corruptions) / sizeof(corruptions[0]));
	tcase_add_test(layer, test_read_verifies_crc);
	tcase_add_test(layer, test_read_all_zero);
	tcase_add_test(layer, test_store_ws);
	suite_add_tcase(s, layer);
	tcase_add_test(chain, test_chain_override);
	tcase_add_test(chain, test_private_extents);
	tcase_add_test(chain, test_secret_mark);
	tcase_add_test(chain, test_chain_refused);
	suite_add_tcase(s, chain);
	return s;
}
