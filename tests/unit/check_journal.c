/*
 * Unit tests for the metadata journal (daemon/journal.c): the record codec
 * against hand-written bytes, and append/replay/compact on real files in a
 * temporary directory, including the crash cases replay must survive (torn
 * tail, garbage tail, bad CRC, short write).
 *
 * Not for: what recovery does with the records (check_recover, later).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_tmpdir.h"
#include "fixture.h"
#include "meta/journal.h"
#include "suites.h"

#define HDR		"GMEMFSJ1"
#define HDR_LEN		8
#define REC_BUF		(8 + 1 + 8 + 2 + GM_J_NAME_MAX + 4 + GM_J_VALUE_MAX)

/* ---- Oracles written independently of journal.c ---- */

/* The CRC32C oracle is ck_ref_crc32c (fixture.h). */

static uint32_t le32_at(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Frame a hand-made body the way the format says: u32 len, u32 crc. */
static size_t frame_body(uint8_t *out, const uint8_t *body, size_t len)
{
	uint32_t rec_len = len + 4, crc = ck_ref_crc32c(body, len);

	for (int i = 0; i < 4; i++) {
		out[i] = (uint8_t)(rec_len >> (8 * i));
		out[4 + i] = (uint8_t)(crc >> (8 * i));
	}
	memmove(out + 8, body, len);	/* body may already sit at out + 8 */
	return len + 8;
}

static const char sample_value[] = "val\0ue\xff with NULs";

/* Every field set, the ones the type does not use too: replay must give
 * those back as zero. */
static struct gm_jrec full_rec(uint8_t type, unsigned i)
{
	return (struct gm_jrec){
		.type = type,
		.ino = 0x1122334455667700ull + i,
		.parent = 0x0102030405060708ull ^ i,
		.parent2 = 0xfffffffffffffff0ull - i,
		.mode = 0100644 + i,
		.uid = 1000 + i,
		.gid = 0xfffffffe - i,
		.flags = 1u << (i % 3),
		.policy = 2 + i,
		.time_ns = 1700000000123456789ull + i,
		.rdev = 0x0000010300000007ull + i,
		.atime_ns = (uint64_t)-1234567890123ll - i,	/* before 1970 */
		.mtime_ns = 981173106000000000ull + i,
		.offset = 0x200000ull * (i + 1),
		.length = 0x1000ull << (i % 9),
		.name = i % 2 ? "file name \xc3\xa9" : "...",
		.name2 = "renamed-to",
		.value = sample_value,
		.value_len = sizeof(sample_value),
	};
}

/* The field lists of journal.h's enum comments, written out again. */
static void assert_rec_eq(const struct gm_jrec *want, const struct gm_jrec *got)
{
	uint8_t t = want->type;
	bool ino = t == GM_J_NEW || t == GM_J_LINK || t == GM_J_ATTR ||
		   t == GM_J_POLICY || t == GM_J_XATTR_SET || t == GM_J_XATTR_DEL ||
		   t == GM_J_NODE || t == GM_J_IFLAGS || t == GM_J_TIMES || t == GM_J_INO_MARK ||
		   t == GM_J_PRIVATE;
	bool parent = t == GM_J_NEW || t == GM_J_LINK || t == GM_J_UNLINK ||
		      t == GM_J_RENAME || t == GM_J_NODE;
	bool owner = t == GM_J_NEW || t == GM_J_ATTR || t == GM_J_NODE;
	bool value = t == GM_J_XATTR_SET || t == GM_J_NODE;
	bool policy = t == GM_J_NEW || t == GM_J_POLICY;
	bool time = t != GM_J_POLICY && t != GM_J_XATTR_SET && t != GM_J_XATTR_DEL &&
		    t != GM_J_INO_MARK && t != GM_J_PRIVATE;
	bool name = t != GM_J_ATTR && t != GM_J_POLICY && t != GM_J_IFLAGS &&
		    t != GM_J_TIMES && t != GM_J_INO_MARK && t != GM_J_PRIVATE;
	bool flags = t == GM_J_RENAME || t == GM_J_IFLAGS || t == GM_J_PRIVATE;

	ck_assert_uint_eq(got->type, t);
	ck_assert_uint_eq(got->ino, ino ? want->ino : 0);
	ck_assert_uint_eq(got->parent, parent ? want->parent : 0);
	ck_assert_uint_eq(got->parent2, t == GM_J_RENAME ? want->parent2 : 0);
	ck_assert_uint_eq(got->mode, owner ? want->mode : 0);
	ck_assert_uint_eq(got->uid, owner ? want->uid : 0);
	ck_assert_uint_eq(got->gid, owner ? want->gid : 0);
	ck_assert_uint_eq(got->flags, flags ? want->flags : 0);
	ck_assert_uint_eq(got->policy, policy ? want->policy : 0);
	ck_assert_uint_eq(got->time_ns, time ? want->time_ns : 0);
	ck_assert_uint_eq(got->rdev, t == GM_J_NODE ? want->rdev : 0);
	ck_assert_uint_eq(got->atime_ns, t == GM_J_TIMES ? want->atime_ns : 0);
	ck_assert_uint_eq(got->mtime_ns, t == GM_J_TIMES ? want->mtime_ns : 0);
	ck_assert_uint_eq(got->offset, t == GM_J_PRIVATE ? want->offset : 0);
	ck_assert_uint_eq(got->length, t == GM_J_PRIVATE ? want->length : 0);
	if (name)
		ck_assert_str_eq(got->name, want->name);
	else
		ck_assert_ptr_null(got->name);
	if (t == GM_J_RENAME)
		ck_assert_str_eq(got->name2, want->name2);
	else
		ck_assert_ptr_null(got->name2);
	if (value) {
		ck_assert_uint_eq(got->value_len, want->value_len);
		ck_assert_mem_eq(got->value, want->value, want->value_len);
	} else {
		ck_assert_ptr_null(got->value);
		ck_assert_uint_eq(got->value_len, 0);
	}
}

/* ---- Files ---- */

static char base_dir[64];
static char test_dir[128];

/* Unchecked, in the parent: the teardown runs even when a test failed in
 * its child. */
static void base_setup(void)
{
	ck_assert_int_eq(ck_tmpdir_make(base_dir, sizeof(base_dir), "journal"), 0);
}

static void base_teardown(void)
{
	ck_tmpdir_sweep(base_dir);
}

static void test_setup(void)
{
	ck_assert_int_eq(ck_tmpdir_sub(base_dir, test_dir, sizeof(test_dir)), 0);
}

static char *tpath(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", test_dir, name);
	return out;
}

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* Whole file in a malloc'ed buffer; *len is its size. */
static uint8_t *file_read(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	uint8_t *buf;

	ck_assert_int_ge(fd, 0);
	*len = file_size(path);
	buf = malloc(*len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, *len, 0), (ssize_t)*len);
	close(fd);
	return buf;
}

static void file_write(const char *path, const void *buf, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void assert_file_is(const char *path, const void *want, size_t len)
{
	size_t got_len;
	uint8_t *got = file_read(path, &got_len);

	ck_assert_uint_eq(got_len, len);
	ck_assert_mem_eq(got, want, len);
	free(got);
}

/* ---- Replay collector: copies what the callback sees, since strings
 * and values are only valid during the call. ---- */

struct rec_copy {
	struct gm_jrec r;
	char *name, *name2;
	uint8_t *value;
};

struct collector {
	struct rec_copy *recs;
	size_t n, cap;
	size_t stop_at;		/* return stop_ret on this record (1-based) */
	int stop_ret;
};

static int collect_cb(void *ctx, const struct gm_jrec *r)
{
	struct collector *c = ctx;
	struct rec_copy *rc;

	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->recs = realloc(c->recs, c->cap * sizeof(*c->recs));
		ck_assert_ptr_nonnull(c->recs);
	}
	rc = &c->recs[c->n++];
	*rc = (struct rec_copy){ .r = *r };
	if (r->name) {
		rc->r.name = rc->name = strdup(r->name);
		ck_assert_ptr_nonnull(rc->name);
	}
	if (r->name2) {
		rc->r.name2 = rc->name2 = strdup(r->name2);
		ck_assert_ptr_nonnull(rc->name2);
	}
	if (r->value) {
		rc->value = malloc(r->value_len + 1);
		ck_assert_ptr_nonnull(rc->value);
		memcpy(rc->value, r->value, r->value_len);
		rc->r.value = rc->value;
	}
	return c->n == c->stop_at ? c->stop_ret : 0;
}

static void collector_free(struct collector *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->recs[i].name);
		free(c->recs[i].name2);
		free(c->recs[i].value);
	}
	free(c->recs);
	*c = (struct collector){ 0 };
}

/* Open path, replay it into c, and check the counters replay sets. */
static void replay_into(struct gm_journal *j, const char *path,
			struct collector *c, uint64_t *dropped)
{
	ck_assert_int_eq(gm_journal_open(j, path), 0);
	ck_assert_int_eq(gm_journal_replay(j, collect_cb, c, dropped), 0);
	ck_assert_uint_eq(j->records, c->n);
	ck_assert_uint_eq(j->bytes, file_size(path));
}

/* A few records of different types; returns how many were written and
 * the file offset at which each one ends. */
static size_t append_some(struct gm_journal *j, size_t n, uint64_t *ends)
{
	for (size_t i = 0; i < n; i++) {
		struct gm_jrec r = full_rec(GM_J_NEW + i % GM_J_TYPE_MAX, i);

		ck_assert_int_eq(gm_journal_append(j, &r), 0);
		ends[i] = j->bytes;
	}
	return n;
}

static void assert_some(const struct collector *c, size_t n)
{
	ck_assert_uint_eq(c->n, n);
	for (size_t i = 0; i < n; i++) {
		struct gm_jrec want = full_rec(GM_J_NEW + i % GM_J_TYPE_MAX, i);

		assert_rec_eq(&want, &c->recs[i].r);
	}
}

/* ---- Codec ---- */

START_TEST(test_golden_bytes)
{
	static const uint8_t policy[] = {
		0x11, 0x00, 0x00, 0x00, 0xbb, 0xee, 0xcf, 0xf8,
		0x06, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x03, 0x00, 0x00, 0x00,
	};
	static const uint8_t unlink_ab[] = {
		0x19, 0x00, 0x00, 0x00, 0x99, 0x93, 0x06, 0x20,
		0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 'a', 'b',
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct gm_jrec p = { .type = GM_J_POLICY, .ino = 0x0102030405060708ull,
			     .policy = 3 };
	struct gm_jrec u = { .type = GM_J_UNLINK, .parent = 1, .name = "ab",
			     .time_ns = 2 };
	uint8_t buf[64];

	/* The oracle itself, against the iSCSI (RFC 3720) check values. */
	ck_assert_uint_eq(ck_ref_crc32c("123456789", 9), 0xe3069283);
	memset(buf, 0, 32);
	ck_assert_uint_eq(ck_ref_crc32c(buf, 32), 0x8a9136aa);

	ck_assert_int_eq(gm_jrec_encode(&p, buf, sizeof(buf)), sizeof(policy));
	ck_assert_mem_eq(buf, policy, sizeof(policy));
	ck_assert_int_eq(gm_jrec_encode(&u, buf, sizeof(buf)), sizeof(unlink_ab));
	ck_assert_mem_eq(buf, unlink_ab, sizeof(unlink_ab));
}
END_TEST

START_TEST(test_codec_roundtrip_every_type)
{
	static uint8_t buf[REC_BUF];
	struct gm_jrec in, out;
	int len;

	for (uint8_t t = GM_J_NEW; t <= GM_J_TYPE_MAX; t++) {
		in = full_rec(t, t);
		len = gm_jrec_encode(&in, buf, sizeof(buf));
		ck_assert_int_gt(len, 9);
		ck_assert_uint_eq(le32_at(buf), len - 4);
		ck_assert_uint_eq(le32_at(buf + 4), ck_ref_crc32c(buf + 8, len - 8));
		ck_assert_uint_eq(buf[8], t);
		memset(&out, 0xa5, sizeof(out));
		ck_assert_int_eq(gm_jrec_decode(buf, len, &out), len);
		assert_rec_eq(&in, &out);
		/* Names are copies with their own NUL, not views of buf. */
		memset(buf, 0, len);
		if (out.name)
			ck_assert_str_eq(out.name, in.name);
		if (out.name2)
			ck_assert_str_eq(out.name2, in.name2);
	}
}
END_TEST

START_TEST(test_codec_limits_roundtrip)
{
	static uint8_t buf[REC_BUF], value[GM_J_VALUE_MAX];
	char name[GM_J_NAME_MAX + 1];
	struct gm_jrec out, in = { .type = GM_J_XATTR_SET, .ino = 7,
				   .name = name, .value = value,
				   .value_len = GM_J_VALUE_MAX };
	int len;

	memset(name, 'n', GM_J_NAME_MAX);
	name[GM_J_NAME_MAX] = '\0';
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)(i * 7 + (i >> 8));
	len = gm_jrec_encode(&in, buf, sizeof(buf));
	ck_assert_int_eq(len, REC_BUF);
	ck_assert_int_eq(gm_jrec_decode(buf, len, &out), len);
	assert_rec_eq(&in, &out);

	/* An empty value is a value; an xattr name may hold '/'. */
	in = (struct gm_jrec){ .type = GM_J_XATTR_SET, .ino = 7, .name = "user.a/b" };
	len = gm_jrec_encode(&in, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(gm_jrec_decode(buf, len, &out), len);
	ck_assert_str_eq(out.name, "user.a/b");
	ck_assert_uint_eq(out.value_len, 0);
	ck_assert_ptr_nonnull(out.value);
}
END_TEST

START_TEST(test_decode_partial_and_trailing)
{
	static uint8_t buf[REC_BUF + 16];
	struct gm_jrec in, out;
	int len;

	for (uint8_t t = GM_J_NEW; t <= GM_J_TYPE_MAX; t++) {
		in = full_rec(t, 1);
		len = gm_jrec_encode(&in, buf, sizeof(buf));
		for (int cut = 0; cut < len; cut++)
			ck_assert_int_eq(gm_jrec_decode(buf, cut, &out), 0);
		/* Bytes of the next record after it are not its business. */
		memset(buf + len, 0xee, 16);
		ck_assert_int_eq(gm_jrec_decode(buf, len + 16, &out), len);
		assert_rec_eq(&in, &out);
	}
}
END_TEST

START_TEST(test_encode_invalid)
{
	static char long_name[GM_J_NAME_MAX + 2];
	static uint8_t big[GM_J_VALUE_MAX + 1];
	const struct gm_jrec bad[] = {
		{ .type = 0, .ino = 1 },
		{ .type = GM_J_TYPE_MAX + 1, .ino = 1, .name = "x" },
		{ .type = 255 },
		{ .type = GM_J_NEW, .name = NULL },
		{ .type = GM_J_NEW, .name = "" },
		{ .type = GM_J_NEW, .name = long_name },
		{ .type = GM_J_NEW, .name = "a/b" },
		{ .type = GM_J_LINK, .name = "/" },
		{ .type = GM_J_UNLINK, .name = "." },
		{ .type = GM_J_UNLINK, .name = ".." },
		{ .type = GM_J_RENAME, .name = "a", .name2 = "b/c" },
		{ .type = GM_J_RENAME, .name = "a", .name2 = NULL },
		{ .type = GM_J_RENAME, .name = "a", .name2 = long_name },
		{ .type = GM_J_XATTR_SET, .name = "user.x", .value = big,
		  .value_len = GM_J_VALUE_MAX + 1 },
		{ .type = GM_J_XATTR_SET, .name = "user.x", .value = NULL,
		  .value_len = 5 },
		{ .type = GM_J_XATTR_SET, .name = long_name, .value = big },
		{ .type = GM_J_XATTR_DEL, .name = "" },
	};
	uint8_t buf[64];

	memset(long_name, 'x', GM_J_NAME_MAX + 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(gm_jrec_encode(&bad[i], buf, sizeof(buf)) == -EINVAL,
			      "bad record %zu encoded", i);
		/* -EINVAL wins over -ENOSPC: the record is wrong, not the buffer. */
		ck_assert_int_eq(gm_jrec_encode(&bad[i], buf, 0), -EINVAL);
	}
}
END_TEST

START_TEST(test_encode_nospc)
{
	static uint8_t buf[REC_BUF];
	struct gm_jrec r = full_rec(GM_J_RENAME, 3);
	int len = gm_jrec_encode(&r, buf, sizeof(buf));

	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(gm_jrec_encode(&r, buf, len - 1), -ENOSPC);
	ck_assert_int_eq(gm_jrec_encode(&r, buf, len), len);
}
END_TEST

/* Well-framed (good CRC) records whose contents are wrong. */
START_TEST(test_decode_invalid)
{
	static const struct { const char *why; uint8_t body[40]; size_t len; } bad[] = {
		{ "type 0", { 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0 }, 13 },
		{ "unknown type", { GM_J_TYPE_MAX + 1, 1, 0, 0, 0, 0, 0, 0, 0 }, 9 },
		{ "dentry with /", { GM_J_UNLINK, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 'a', '/', 'b',
				     0, 0, 0, 0, 0, 0, 0, 0 }, 22 },
		{ "name with NUL", { GM_J_XATTR_DEL, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 'a', 0, 'b' }, 14 },
		{ "empty name", { GM_J_XATTR_DEL, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 11 },
		{ "name past body", { GM_J_XATTR_DEL, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 'a' }, 12 },
		{ "value over max", { GM_J_XATTR_SET, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 'a',
				      0x01, 0x00, 0x01, 0x00 }, 16 },
		{ "trailing byte", { GM_J_POLICY, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0 }, 14 },
		{ "short field", { GM_J_POLICY, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0 }, 11 },
	};
	uint8_t buf[600], body[300] = { GM_J_XATTR_DEL, 1, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t *big;
	struct gm_jrec out;
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = frame_body(buf, bad[i].body, bad[i].len);
		ck_assert_msg(gm_jrec_decode(buf, len, &out) == -EINVAL,
			      "%s: decoded", bad[i].why);
	}
	/* 255 bytes is the longest name, 256 one too many. */
	for (size_t n = GM_J_NAME_MAX; n <= GM_J_NAME_MAX + 1; n++) {
		body[9] = n & 0xff;
		body[10] = n >> 8;
		memset(body + 11, 'a', n);
		len = frame_body(buf, body, 11 + n);
		ck_assert_int_eq(gm_jrec_decode(buf, len, &out),
				 n == GM_J_NAME_MAX ? (int)len : -EINVAL);
	}
	/* One byte over GM_J_VALUE_MAX, with the bytes really there. */
	big = calloc(1, 16 + 8 + GM_J_VALUE_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memcpy(big + 8, (const uint8_t[]){ GM_J_XATTR_SET, 1, 0, 0, 0, 0, 0, 0, 0,
					   1, 0, 'a', 0x01, 0x00, 0x01, 0x00 }, 16);
	len = frame_body(big, big + 8, 16 + GM_J_VALUE_MAX + 1);
	ck_assert_int_eq(gm_jrec_decode(big, len, &out), -EINVAL);
	big[8 + 12] = 0x00;	/* value_len 65536: the same bytes, one spare */
	len = frame_body(big, big + 8, 16 + GM_J_VALUE_MAX + 1);
	ck_assert_int_eq(gm_jrec_decode(big, len, &out), -EINVAL);
	len = frame_body(big, big + 8, 16 + GM_J_VALUE_MAX);
	ck_assert_int_eq(gm_jrec_decode(big, len, &out), len);
	ck_assert_uint_eq(out.value_len, GM_J_VALUE_MAX);
	free(big);

	/* The framing itself. */
	len = frame_body(buf, (const uint8_t[]){ GM_J_POLICY, 1, 0, 0, 0, 0, 0, 0, 0,
						 3, 0, 0, 0 }, 13);
	ck_assert_int_eq(gm_jrec_decode(buf, len, &out), len);
	buf[len - 1] ^= 0x40;
	ck_assert_int_eq(gm_jrec_decode(buf, len, &out), -EINVAL);
	memcpy(buf, "\xff\xff\xff\xff\0\0\0\0", 8);
	ck_assert_int_eq(gm_jrec_decode(buf, 8, &out), -EINVAL);
	memcpy(buf, "\x04\0\0\0\0\0\0\0", 8);
	ck_assert_int_eq(gm_jrec_decode(buf, 8, &out), -EINVAL);
	memset(buf, 0, 8);
	ck_assert_int_eq(gm_jrec_decode(buf, 8, &out), -EINVAL);
}
END_TEST

/* ---- Files: open, append, replay ---- */

START_TEST(test_open_creates_header)
{
	char path[PATH_MAX];
	struct gm_journal j;
	struct collector c = { 0 };
	uint64_t dropped = 0;
	struct stat st;

	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	ck_assert_int_ge(j.fd, 0);
	ck_assert_str_eq(j.path, path);
	ck_assert_uint_eq(j.bytes, HDR_LEN);
	ck_assert_uint_eq(j.records, 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_ne(fcntl(j.fd, F_GETFD) & FD_CLOEXEC, 0);
	assert_file_is(path, HDR, HDR_LEN);
	gm_journal_close(&j);
	ck_assert_int_eq(j.fd, -1);
	gm_journal_close(&j);	/* closing twice is harmless */

	replay_into(&j, path, &c, &dropped);
	ck_assert_uint_eq(c.n, 0);
	ck_assert_uint_eq(dropped, 0);
	assert_file_is(path, HDR, HDR_LEN);
	gm_journal_close(&j);
}
END_TEST

START_TEST(test_append_replay_every_type)
{
	char path[PATH_MAX];
	struct gm_journal j;
	struct collector c = { 0 };
	uint64_t ends[2 * GM_J_TYPE_MAX], dropped = 0;
	size_t n;

	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	n = append_some(&j, 2 * GM_J_TYPE_MAX, ends);
	ck_assert_uint_eq(j.records, n);
	ck_assert_uint_eq(j.bytes, file_size(path));
	gm_journal_close(&j);

	replay_into(&j, path, &c, &dropped);
	assert_some(&c, n);
	ck_assert_uint_eq(dropped, 0);
	ck_assert_uint_eq(file_size(path), ends[n - 1]);
	gm_journal_close(&j);
	collector_free(&c);
}
END_TEST

/* Enough big records that replay refills its read buffer many times, with
 * record boundaries falling at many different buffer offsets. */
START_TEST(test_replay_large_file)
{
	static uint8_t value[GM_J_VALUE_MAX];
	char path[PATH_MAX], name[GM_J_NAME_MAX + 1];
	struct gm_journal j;
	struct collector c = { 0 };
	uint64_t dropped = 0;
	const size_t n = 300;

	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)(i ^ (i >> 9));
	memset(name, 'x', GM_J_NAME_MAX);
	name[GM_J_NAME_MAX] = '\0';
	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	for (size_t i = 0; i < n; i++) {
		struct gm_jrec r = full_rec(GM_J_NEW, i);

		if (i % 5 == 0)
			r = (struct gm_jrec){ .type = GM_J_XATTR_SET, .ino = i,
					      .name = name, .value = value + i,
					      .value_len = GM_J_VALUE_MAX - i * 13 };
		ck_assert_int_eq(gm_journal_append(&j, &r), 0);
	}
	gm_journal_close(&j);
	ck_assert_int_gt(file_size(path), 3 << 20);

	replay_into(&j, path, &c, &dropped);
	ck_assert_uint_eq(c.n, n);
	ck_assert_uint_eq(dropped, 0);
	for (size_t i = 0; i < n; i++) {
		const struct gm_jrec *r = &c.recs[i].r;

		if (i % 5) {
			struct gm_jrec want = full_rec(GM_J_NEW, i);

			assert_rec_eq(&want, r);
			continue;
		}
		ck_assert_uint_eq(r->ino, i);
		ck_assert_uint_eq(r->value_len, GM_J_VALUE_MAX - i * 13);
		ck_assert_mem_eq(r->value, value + i, r->value_len);
	}
	gm_journal_close(&j);
	collector_free(&c);
}
END_TEST

/* After a cut, the journal must take and replay new records normally. */
static void assert_appends_after_cut(const char *path, size_t good)
{
	struct gm_journal j;
	struct collector c = { 0 };
	struct gm_jrec extra = full_rec(GM_J_XATTR_SET, 99);
	uint64_t dropped = 0;

	ck_assert_int_eq(gm_journal_open(&j, path), 0);
	ck_assert_int_eq(gm_journal_replay(&j, collect_cb, &c, &dropped), 0);
	ck_assert_int_eq(gm_journal_append(&j, &extra), 0);
	gm_journal_close(&j);
	collector_free(&c);

	replay_into(&j, path, &c, &dropped);
	ck_assert_uint_eq(dropped, 0);
	ck_assert_uint_eq(c.n, good + 1);
	assert_rec_eq(&extra, &c.recs[good].r);
	gm_journal_close(&j);
	collector_free(&c);
}

START_TEST(test_torn_tail_cut)
{
	char path[PATH_MAX];
	struct gm_journal j;
	uint64_t ends[5], last_start;
	size_t full_len;
	uint8_t *full;

	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	append_some(&j, 5, ends);
	gm_journal_close(&j);
	full = file_read(path, &full_len);
	last_start = ends[3];

	/* Torn inside the length, the CRC, the type, the fields, last byte. */
	for (uint64_t torn = 1; torn < ends[4] - last_start; torn++) {
		struct collector c = { 0 };
		uint64_t dropped = 100;

		file_write(path, full, last_start + torn, O_TRUNC);
		replay_into(&j, path, &c, &dropped);
		assert_some(&c, 4);
		ck_assert_uint_eq(dropped, 100 + torn);
		ck_assert_uint_eq(file_size(path), last_start);
		ck_assert_uint_eq(j.bytes, last_start);
		gm_journal_close(&j);
		collector_free(&c);
		assert_appends_after_cut(path, 4);
	}
	free(full);
}
END_TEST

START_TEST(test_garbage_tail_cut)
{
	static const struct { const char *bytes; size_t len; } garbage[] = {
		{ "\x01\x02\x03", 3 },
		{ "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12 },
		{ "\x0d\0\0\0\x12\x34\x56\x78\x06\x01\0\0\0\0\0\0\0\x03\0\0\0", 21 },
		{ "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24 },
	};
	char path[PATH_MAX];
	struct gm_journal j;
	uint64_t ends[3];

	for (size_t g = 0; g < sizeof(garbage) / sizeof(garbage[0]); g++) {
		struct collector c = { 0 };
		uint64_t dropped = 0;

		unlink(tpath(path, "journal"));
		ck_assert_int_eq(gm_journal_open(&j, path), 0);
		append_some(&j, 3, ends);
		gm_journal_close(&j);
		file_write(path, garbage[g].bytes, garbage[g].len, O_APPEND);

		replay_into(&j, path, &c, &dropped);
		assert_some(&c, 3);
		ck_assert_uint_eq(dropped, garbage[g].len);
		ck_assert_uint_eq(file_size(path), ends[2]);
		gm_journal_close(&j);
		collector_free(&c);
		assert_appends_after_cut(path, 3);
	}
}
END_TEST

START_TEST(test_bad_crc_in_middle_stops)
{
	char path[PATH_MAX];
	struct gm_journal j;
	struct collector c = { 0 };
	uint64_t ends[4], dropped = 0;
	off_t size;
	uint8_t flip;
	int fd;

	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	append_some(&j, 4, ends);
	gm_journal_close(&j);
	size = file_size(path);

	/* One flipped bit in the body of record 2 (its last byte). */
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pread(fd, &flip, 1, ends[1] - 1), 1);
	flip ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &flip, 1, ends[1] - 1), 1);
	close(fd);

	replay_into(&j, path, &c, &dropped);
	assert_some(&c, 1);
	ck_assert_uint_eq(dropped, size - ends[0]);
	ck_assert_uint_eq(file_size(path), ends[0]);
	gm_journal_close(&j);
	collector_free(&c);
	assert_appends_after_cut(path, 1);
}
END_TEST

START_TEST(test_replay_callback_error_stops)
{
	char path[PATH_MAX];
	struct gm_journal j;
	struct collector c = { .stop_at = 2, .stop_ret = -ECANCELED };
	uint64_t ends[4], dropped = 0;
	off_t size;

	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	append_some(&j, 4, ends);
	gm_journal_close(&j);
	file_write(path, "torn", 4, O_APPEND);
	size = file_size(path);

	/* Stopped by the caller, replay must not touch the tail. */
	ck_assert_int_eq(gm_journal_open(&j, path), 0);
	ck_assert_int_eq(gm_journal_replay(&j, collect_cb, &c, &dropped), -ECANCELED);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(dropped, 0);
	ck_assert_int_eq(file_size(path), size);
	gm_journal_close(&j);
	collector_free(&c);
}
END_TEST

START_TEST(test_append_invalid_leaves_file)
{
	char path[PATH_MAX], long_name[GM_J_NAME_MAX + 2];
	static uint8_t big[GM_J_VALUE_MAX + 1];
	struct gm_journal j;
	uint64_t ends[2];
	size_t len;
	uint8_t *before;
	const struct gm_jrec bad[] = {
		{ .type = GM_J_NEW, .name = long_name },
		{ .type = GM_J_NEW, .name = "dir/file" },
		{ .type = 0, .name = "x" },
		{ .type = 42, .name = "x" },
		{ .type = GM_J_XATTR_SET, .name = "user.x", .value = big,
		  .value_len = sizeof(big) },
	};

	memset(long_name, 'y', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	append_some(&j, 2, ends);
	before = file_read(path, &len);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(gm_journal_append(&j, &bad[i]), -EINVAL);
	ck_assert_uint_eq(j.records, 2);
	ck_assert_uint_eq(j.bytes, len);
	assert_file_is(path, before, len);
	gm_journal_close(&j);
	free(before);
}
END_TEST

/* RLIMIT_FSIZE makes the kernel cut a write short (or refuse it) at a
 * chosen offset: the append must fail and leave whole records only. */
START_TEST(test_short_write_rolls_back)
{
	char path[PATH_MAX];
	struct gm_journal j;
	struct collector c = { 0 };
	struct rlimit old, lim;
	struct gm_jrec r = full_rec(GM_J_RENAME, 1);
	uint64_t ends[3], dropped = 0;
	void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	append_some(&j, 2, ends);

	lim = (struct rlimit){ .rlim_cur = ends[1] + 10, .rlim_max = old.rlim_max };
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(gm_journal_append(&j, &r), -EIO);
	ck_assert_uint_eq(file_size(path), ends[1]);
	lim.rlim_cur = ends[1];
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(gm_journal_append(&j, &r), -EFBIG);
	ck_assert_uint_eq(file_size(path), ends[1]);
	ck_assert_uint_eq(j.records, 2);
	ck_assert_uint_eq(j.bytes, ends[1]);

	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	append_some(&j, 3, ends);	/* the same three records again */
	gm_journal_close(&j);
	replay_into(&j, path, &c, &dropped);
	ck_assert_uint_eq(dropped, 0);
	ck_assert_uint_eq(c.n, 5);
	for (size_t i = 0; i < 5; i++) {
		size_t k = i < 2 ? i : i - 2;
		struct gm_jrec want = full_rec(GM_J_NEW + k, k);

		assert_rec_eq(&want, &c.recs[i].r);
	}
	gm_journal_close(&j);
	collector_free(&c);
	signal(SIGXFSZ, old_sig);
}
END_TEST

START_TEST(test_wrong_header_untouched)
{
	static const struct { const char *bytes; size_t len; } foreign[] = {
		{ "GMEMFSJ2\x11\0\0\0", 12 },	/* a future format */
		{ "#!/bin/sh\necho hello\n", 21 },
		{ "GMX", 3 },			/* short, but not our prefix */
	};
	char path[PATH_MAX];
	struct gm_journal j;

	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		file_write(tpath(path, "journal"), foreign[i].bytes, foreign[i].len,
			   O_TRUNC);
		ck_assert_int_eq(gm_journal_open(&j, path), -EINVAL);
		ck_assert_int_eq(j.fd, -1);
		assert_file_is(path, foreign[i].bytes, foreign[i].len);
	}
}
END_TEST

START_TEST(test_torn_header_reset)
{
	char path[PATH_MAX];
	struct gm_journal j;
	struct collector c = { 0 };
	uint64_t dropped = 0;

	file_write(tpath(path, "journal"), "GMEM", 4, O_TRUNC);
	replay_into(&j, path, &c, &dropped);
	ck_assert_uint_eq(c.n, 0);
	assert_file_is(path, HDR, HDR_LEN);
	gm_journal_close(&j);
}
END_TEST

/* ---- Compaction ---- */

struct emit_ctx {
	size_t n;
	int fail;		/* returned after appending, if nonzero */
};

static int emit_recs(void *ctx, struct gm_journal *fresh)
{
	struct emit_ctx *e = ctx;
	int err;

	for (size_t i = 0; i < e->n; i++) {
		struct gm_jrec r = full_rec(GM_J_NEW + i % GM_J_TYPE_MAX, i);

		err = gm_journal_append(fresh, &r);
		if (err)
			return err;
	}
	return e->fail;
}

START_TEST(test_compact_replaces)
{
	static uint8_t want[HDR_LEN + 2 * REC_BUF];
	char path[PATH_MAX], tmp[PATH_MAX];
	struct emit_ctx e = { .n = 2 };
	struct gm_journal j;
	struct collector c = { 0 };
	struct stat before, after;
	struct gm_jrec more;
	uint64_t ends[10], dropped = 0;
	size_t want_len = HDR_LEN;
	int old_fd;

	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	append_some(&j, 10, ends);
	old_fd = open(path, O_RDONLY);
	ck_assert_int_ge(old_fd, 0);
	ck_assert_int_eq(stat(path, &before), 0);
	/* A .tmp a crashed compaction left behind must not leak in. */
	file_write(tpath(tmp, "journal.tmp"), "stale stale stale", 17, O_TRUNC);

	ck_assert_int_eq(gm_journal_compact(&j, emit_recs, &e), 0);
	ck_assert_str_eq(j.path, path);
	ck_assert_uint_eq(j.records, 2);
	ck_assert_uint_eq(j.bytes, file_size(path));
	ck_assert_int_eq(access(tmp, F_OK), -1);
	memcpy(want, HDR, HDR_LEN);
	for (size_t i = 0; i < 2; i++) {
		struct gm_jrec r = full_rec(GM_J_NEW + i, i);

		want_len += gm_jrec_encode(&r, want + want_len, sizeof(want) - want_len);
	}
	assert_file_is(path, want, want_len);

	/* Replaced by rename, not rewritten: the old file is intact. */
	ck_assert_int_eq(stat(path, &after), 0);
	ck_assert_uint_ne(after.st_ino, before.st_ino);
	ck_assert_int_eq(lseek(old_fd, 0, SEEK_END), ends[9]);
	close(old_fd);

	more = full_rec(GM_J_NEW + 2, 2);
	ck_assert_int_eq(gm_journal_append(&j, &more), 0);
	gm_journal_close(&j);
	replay_into(&j, path, &c, &dropped);
	assert_some(&c, 3);
	gm_journal_close(&j);
	collector_free(&c);
}
END_TEST

START_TEST(test_compact_failure_keeps_old)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct emit_ctx e = { .n = 3, .fail = -ENOSPC };
	struct gm_journal j;
	struct gm_jrec more;
	struct collector c = { 0 };
	uint64_t ends[4], dropped = 0;
	size_t len;
	uint8_t *before;
	int fd;

	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	append_some(&j, 3, ends);
	before = file_read(path, &len);
	fd = j.fd;

	ck_assert_int_eq(gm_journal_compact(&j, emit_recs, &e), -ENOSPC);
	ck_assert_int_eq(j.fd, fd);
	ck_assert_str_eq(j.path, path);
	ck_assert_uint_eq(j.records, 3);
	ck_assert_uint_eq(j.bytes, len);
	assert_file_is(path, before, len);
	ck_assert_int_eq(access(tpath(tmp, "journal.tmp"), F_OK), -1);

	more = full_rec(GM_J_NEW + 3, 3);
	ck_assert_int_eq(gm_journal_append(&j, &more), 0);
	gm_journal_close(&j);
	replay_into(&j, path, &c, &dropped);
	assert_some(&c, 4);
	gm_journal_close(&j);
	collector_free(&c);
	free(before);
}
END_TEST

static uint8_t big_value[GM_J_VALUE_MAX];

/* Small records and records near the largest, so that compaction's write
 * buffer fills and flushes at many different offsets. */
static int emit_big(void *ctx, struct gm_journal *fresh)
{
	size_t n = *(size_t *)ctx;
	int err;

	for (size_t i = 0; i < n; i++) {
		struct gm_jrec r = full_rec(GM_J_NEW, i);

		if (i % 3 == 0)
			r = (struct gm_jrec){ .type = GM_J_XATTR_SET, .ino = i, .name = "user.big",
					      .value = big_value + i,
					      .value_len = GM_J_VALUE_MAX - i * 7 };
		err = gm_journal_append(fresh, &r);
		if (err)
			return err;
	}
	return 0;
}

/* Compaction writes in large pieces: the file holds every record whole,
 * in order, its counters match the file, and the journal's compacted
 * count (what the next compaction will cost) is the new record count. */
START_TEST(test_compact_buffered_large)
{
	char path[PATH_MAX];
	struct gm_journal j;
	struct collector c = { 0 };
	uint64_t ends[3], dropped = 0;
	size_t n = 200;

	for (size_t i = 0; i < sizeof(big_value); i++)
		big_value[i] = (uint8_t)(i * 7 + (i >> 11));
	ck_assert_int_eq(gm_journal_open(&j, tpath(path, "journal")), 0);
	append_some(&j, 3, ends);
	ck_assert_int_eq(gm_journal_compact(&j, emit_big, &n), 0);
	ck_assert_uint_eq(j.records, n);
	ck_assert_uint_eq(j.compacted, n);
	ck_assert_uint_eq(j.bytes, file_size(path));
	ck_assert_int_gt(file_size(path), 4 << 20);
	gm_journal_close(&j);

	replay_into(&j, path, &c, &dropped);
	ck_assert_uint_eq(dropped, 0);
	ck_assert_uint_eq(c.n, n);
	ck_assert_uint_eq(j.compacted, n);
	for (size_t i = 0; i < n; i++) {
		const struct gm_jrec *r = &c.recs[i].r;
		struct gm_jrec want = full_rec(GM_J_NEW, i);

		if (i % 3) {
			assert_rec_eq(&want, r);
			continue;
		}
		ck_assert_uint_eq(r->ino, i);
		ck_assert_uint_eq(r->value_len, GM_J_VALUE_MAX - i * 7);
		ck_assert_mem_eq(r->value, big_value + i, r->value_len);
	}
	gm_journal_close(&j);
	collector_free(&c);
}
END_TEST

/* A bare file name: the directory to fsync is ".". */
START_TEST(test_compact_relative_path)
{
	struct emit_ctx e = { .n = 1 };
	struct gm_journal j;
	struct collector c = { 0 };
	uint64_t ends[3], dropped = 0;
	char cwd[PATH_MAX];

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(test_dir), 0);
	ck_assert_int_eq(gm_journal_open(&j, "journal"), 0);
	append_some(&j, 3, ends);
	ck_assert_int_eq(gm_journal_compact(&j, emit_recs, &e), 0);
	gm_journal_close(&j);
	replay_into(&j, "journal", &c, &dropped);
	assert_some(&c, 1);
	gm_journal_close(&j);
	collector_free(&c);
	ck_assert_int_eq(chdir(cwd), 0);
}
END_TEST

Suite *make_journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *codec = tcase_create("codec");
	TCase *file = tcase_create("file");
	TCase *compact = tcase_create("compact");

	tcase_add_test(codec, test_golden_bytes);
	tcase_add_test(codec, test_codec_roundtrip_every_type);
	tcase_add_test(codec, test_codec_limits_roundtrip);
	tcase_add_test(codec, test_decode_partial_and_trailing);
	tcase_add_test(codec, test_encode_invalid);
	tcase_add_test(codec, test_encode_nospc);
	tcase_add_test(codec, test_decode_invalid);
	suite_add_tcase(s, codec);

	tcase_add_unchecked_fixture(file, base_setup, base_teardown);
	tcase_add_checked_fixture(file, test_setup, NULL);
	tcase_add_test(file, test_open_creates_header);
	tcase_add_test(file, test_append_replay_every_type);
	tcase_add_test(file, test_replay_large_file);
	tcase_add_test(file, test_torn_tail_cut);
	tcase_add_test(file, test_garbage_tail_cut);
	tcase_add_test(file, test_bad_crc_in_middle_stops);
	tcase_add_test(file, test_replay_callback_error_stops);
	tcase_add_test(file, test_append_invalid_leaves_file);
	tcase_add_test(file, test_short_write_rolls_back);
	tcase_add_test(file, test_wrong_header_untouched);
	tcase_add_test(file, test_torn_header_reset);
	suite_add_tcase(s, file);

	tcase_add_unchecked_fixture(compact, base_setup, base_teardown);
	tcase_add_checked_fixture(compact, test_setup, NULL);
	tcase_add_test(compact, test_compact_replaces);
	tcase_add_test(compact, test_compact_failure_keeps_old);
	tcase_add_test(compact, test_compact_relative_path);
	tcase_add_test(compact, test_compact_buffered_large);
	suite_add_tcase(s, compact);
	return s;
}
