/*
 * Metadata journal (see journal.h and docs/state-dir.md, "Journal"): the
 * byte format of records, appending them one write() each, replaying them
 * after a restart, and compacting the file into a fresh one (written in
 * large pieces: it becomes the journal only once it is whole).
 *
 * Not for: what the records mean (recover.c), when to compact, or locking.
 * Nothing here takes a lock: every call on one struct gm_journal (append,
 * replay, compact, close) must be serialized by the caller, which holds
 * fs->tree_lock for appends and compaction.  gm_jrec_encode/decode share
 * no state between threads (decode's string scratch is per thread).
 * Replay before the first append: open looks no further than the header,
 * and a record appended behind a torn tail would be cut off with it.
 *
 * Appends are not fsync'ed: the journal has to survive a daemon restart,
 * and the page cache does that; after a host crash the file contents it
 * names, which live in memory-backed files, are gone anyway.  Compaction
 * does fsync, because a rename that reached the disk before the new file's
 * data would leave an empty journal behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/journal.h"
#include "core/log.h"
#include "core/pread.h"
#include "common/crc32c.h"

#define GM_J_MAGIC		"GMEMFSJ1"
#define GM_J_HDR_LEN		8
/* u32 len + u32 crc32c in front of every body. */
#define GM_JREC_FRAME_LEN	8
/* GM_J_XATTR_SET is the largest body: type, ino, name, value. */
#define GM_JREC_BODY_MAX	(1 + 8 + 2 + GM_J_NAME_MAX + 4 + GM_J_VALUE_MAX)
/* Replay reads this much at a time; it must hold the largest record. */
#define GM_JREPLAY_BUF		(1u << 20)

_Static_assert(GM_JREPLAY_BUF >= GM_JREC_FRAME_LEN + GM_JREC_BODY_MAX,
	       "replay buffer must hold the largest record");

/* ---- Per-type field layout ---- */

enum gm_jkind { GM_JK_U64 = 1, GM_JK_U32, GM_JK_DNAME, GM_JK_XNAME, GM_JK_VALUE };

enum gm_jfield {
	GM_JF_END = 0,
	GM_JF_INO, GM_JF_PARENT, GM_JF_PARENT2, GM_JF_TIME,
	GM_JF_MODE, GM_JF_UID, GM_JF_GID, GM_JF_FLAGS, GM_JF_POLICY,
	GM_JF_RDEV, GM_JF_ATIME, GM_JF_MTIME,
	GM_JF_NAME, GM_JF_NAME2,	/* directory entry names */
	GM_JF_XNAME,			/* xattr name, kept in r->name */
	GM_JF_VALUE,			/* r->value and r->value_len */
	GM_JF_OFFSET, GM_JF_LENGTH,
	GM_JF_COUNT,
};

/* slot: which decode scratch buffer a string goes to (name or name2). */
static const struct {
	uint8_t kind;
	uint8_t slot;
	size_t off;
} gm_jfields[GM_JF_COUNT] = {
	[GM_JF_INO]	= { GM_JK_U64, 0, offsetof(struct gm_jrec, ino) },
	[GM_JF_PARENT]	= { GM_JK_U64, 0, offsetof(struct gm_jrec, parent) },
	[GM_JF_PARENT2]	= { GM_JK_U64, 0, offsetof(struct gm_jrec, parent2) },
	[GM_JF_TIME]	= { GM_JK_U64, 0, offsetof(struct gm_jrec, time_ns) },
	[GM_JF_MODE]	= { GM_JK_U32, 0, offsetof(struct gm_jrec, mode) },
	[GM_JF_UID]	= { GM_JK_U32, 0, offsetof(struct gm_jrec, uid) },
	[GM_JF_GID]	= { GM_JK_U32, 0, offsetof(struct gm_jrec, gid) },
	[GM_JF_FLAGS]	= { GM_JK_U32, 0, offsetof(struct gm_jrec, flags) },
	[GM_JF_POLICY]	= { GM_JK_U32, 0, offsetof(struct gm_jrec, policy) },
	[GM_JF_RDEV]	= { GM_JK_U64, 0, offsetof(struct gm_jrec, rdev) },
	[GM_JF_ATIME]	= { GM_JK_U64, 0, offsetof(struct gm_jrec, atime_ns) },
	[GM_JF_MTIME]	= { GM_JK_U64, 0, offsetof(struct gm_jrec, mtime_ns) },
	[GM_JF_NAME]	= { GM_JK_DNAME, 0, offsetof(struct gm_jrec, name) },
	[GM_JF_NAME2]	= { GM_JK_DNAME, 1, offsetof(struct gm_jrec, name2) },
	[GM_JF_XNAME]	= { GM_JK_XNAME, 0, offsetof(struct gm_jrec, name) },
	[GM_JF_VALUE]	= { GM_JK_VALUE, 0, 0 },
	[GM_JF_OFFSET]	= { GM_JK_U64, 0, offsetof(struct gm_jrec, offset) },
	[GM_JF_LENGTH]	= { GM_JK_U64, 0, offsetof(struct gm_jrec, length) },
};

#define GM_JF_PER_TYPE	9

/* The order of fields in each type's body; this table is the format
 * (docs/state-dir.md copies it), so entries are never reordered. */
static const uint8_t gm_jrec_layout[GM_J_TYPE_MAX + 1][GM_JF_PER_TYPE] = {
	[GM_J_NEW]	= { GM_JF_INO, GM_JF_PARENT, GM_JF_NAME, GM_JF_MODE,
			    GM_JF_UID, GM_JF_GID, GM_JF_POLICY, GM_JF_TIME },
	[GM_J_LINK]	= { GM_JF_INO, GM_JF_PARENT, GM_JF_NAME, GM_JF_TIME },
	[GM_J_UNLINK]	= { GM_JF_PARENT, GM_JF_NAME, GM_JF_TIME },
	[GM_J_RENAME]	= { GM_JF_PARENT, GM_JF_NAME, GM_JF_PARENT2, GM_JF_NAME2,
			    GM_JF_FLAGS, GM_JF_TIME },
	[GM_J_ATTR]	= { GM_JF_INO, GM_JF_MODE, GM_JF_UID, GM_JF_GID, GM_JF_TIME },
	[GM_J_POLICY]	= { GM_JF_INO, GM_JF_POLICY },
	[GM_J_XATTR_SET] = { GM_JF_INO, GM_JF_XNAME, GM_JF_VALUE },
	[GM_J_XATTR_DEL] = { GM_JF_INO, GM_JF_XNAME },
	[GM_J_NODE]	= { GM_JF_INO, GM_JF_PARENT, GM_JF_NAME, GM_JF_MODE, GM_JF_UID,
			    GM_JF_GID, GM_JF_TIME, GM_JF_RDEV, GM_JF_VALUE },
	[GM_J_IFLAGS]	= { GM_JF_INO, GM_JF_FLAGS, GM_JF_TIME },
	[GM_J_TIMES]	= { GM_JF_INO, GM_JF_ATIME, GM_JF_MTIME, GM_JF_TIME },
	[GM_J_INO_MARK]	= { GM_JF_INO },
	[GM_J_PRIVATE]	= { GM_JF_INO, GM_JF_OFFSET, GM_JF_LENGTH, GM_JF_FLAGS },
};

static bool gm_jtype_ok(unsigned type)
{
	return type >= GM_J_NEW && type <= GM_J_TYPE_MAX;
}

/*
 * A directory entry name must be usable as one path component, or replay
 * would build a tree the kernel cannot walk.  Xattr names only follow the
 * kernel's xattr rules (1..255 bytes, no NUL): "user.a/b" is a valid xattr.
 */
static bool gm_jname_ok(const char *s, size_t len, bool dentry)
{
	if (len == 0 || len > GM_J_NAME_MAX || memchr(s, '\0', len))
		return false;
	if (!dentry)
		return true;
	if (memchr(s, '/', len))
		return false;
	return !(s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.')));
}

/* ---- Encoding ---- */

struct gm_jput {
	uint8_t *p;
	size_t off;
};

static void gm_put_le(struct gm_jput *w, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		w->p[w->off++] = (uint8_t)(v >> (8 * i));
}

static void gm_put_bytes(struct gm_jput *w, const void *src, size_t n)
{
	if (n)		/* src may be NULL for an empty value */
		memcpy(w->p + w->off, src, n);
	w->off += n;
}

static const void *gm_jrec_member(const struct gm_jrec *r, enum gm_jfield f)
{
	return (const char *)r + gm_jfields[f].off;
}

/* Bytes one field takes in the body, or -EINVAL if it would not decode. */
static int gm_jfield_size(const struct gm_jrec *r, enum gm_jfield f)
{
	const char *name;
	size_t len;

	switch (gm_jfields[f].kind) {
	case GM_JK_U64:
		return 8;
	case GM_JK_U32:
		return 4;
	case GM_JK_DNAME:
	case GM_JK_XNAME:
		name = *(const char *const *)gm_jrec_member(r, f);
		if (!name)
			return -EINVAL;
		len = strnlen(name, GM_J_NAME_MAX + 1);
		if (!gm_jname_ok(name, len, gm_jfields[f].kind == GM_JK_DNAME))
			return -EINVAL;
		return 2 + (int)len;
	case GM_JK_VALUE:
		if (r->value_len > GM_J_VALUE_MAX || (!r->value && r->value_len))
			return -EINVAL;
		return 4 + (int)r->value_len;
	}
	return -EINVAL;
}

/* Body size of r (type byte included), or -EINVAL. */
static int gm_jrec_body_size(const struct gm_jrec *r)
{
	const uint8_t *lay;
	int size = 1, n;

	if (!gm_jtype_ok(r->type))
		return -EINVAL;
	lay = gm_jrec_layout[r->type];
	for (int i = 0; i < GM_JF_PER_TYPE && lay[i] != GM_JF_END; i++) {
		n = gm_jfield_size(r, lay[i]);
		if (n < 0)
			return n;
		size += n;
	}
	return size;
}

static void gm_jfield_put(struct gm_jput *w, const struct gm_jrec *r,
			  enum gm_jfield f)
{
	const char *name;
	size_t len;

	switch (gm_jfields[f].kind) {
	case GM_JK_U64:
		gm_put_le(w, *(const uint64_t *)gm_jrec_member(r, f), 8);
		break;
	case GM_JK_U32:
		gm_put_le(w, *(const uint32_t *)gm_jrec_member(r, f), 4);
		break;
	case GM_JK_DNAME:
	case GM_JK_XNAME:
		name = *(const char *const *)gm_jrec_member(r, f);
		len = strlen(name);
		gm_put_le(w, len, 2);
		gm_put_bytes(w, name, len);
		break;
	case GM_JK_VALUE:
		gm_put_le(w, r->value_len, 4);
		gm_put_bytes(w, r->value, r->value_len);
		break;
	}
}

int gm_jrec_encode(const struct gm_jrec *r, void *buf, size_t cap)
{
	struct gm_jput w = { .p = (uint8_t *)buf + GM_JREC_FRAME_LEN };
	struct gm_jput frame = { .p = buf };
	const uint8_t *lay;
	int body;

	body = gm_jrec_body_size(r);
	if (body < 0)
		return body;
	if (cap < (size_t)GM_JREC_FRAME_LEN + body)
		return -ENOSPC;
	gm_put_le(&w, r->type, 1);
	lay = gm_jrec_layout[r->type];
	for (int i = 0; i < GM_JF_PER_TYPE && lay[i] != GM_JF_END; i++)
		gm_jfield_put(&w, r, lay[i]);
	gm_put_le(&frame, 4 + body, 4);
	gm_put_le(&frame, gm_crc32c(0, w.p, w.off), 4);
	return GM_JREC_FRAME_LEN + body;
}

/* ---- Decoding ---- */

/* A read cursor that turns every overrun into one sticky flag, so the
 * field loop checks once at the end instead of after every read. */
struct gm_jget {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *gm_get_bytes(struct gm_jget *g, size_t n)
{
	const uint8_t *at = g->p + g->off;

	if (g->bad || g->len - g->off < n) {
		g->bad = true;
		return NULL;
	}
	g->off += n;
	return at;
}

static uint64_t gm_get_le(struct gm_jget *g, unsigned bytes)
{
	const uint8_t *at = gm_get_bytes(g, bytes);
	uint64_t v = 0;

	for (unsigned i = 0; at && i < bytes; i++)
		v |= (uint64_t)at[i] << (8 * i);
	return v;
}

typedef char gm_jnames[2][GM_J_NAME_MAX + 1];

/* The file has no NULs, so each string is copied out to gain one. */
static int gm_jfield_get(struct gm_jget *g, struct gm_jrec *r,
			 enum gm_jfield f, gm_jnames names)
{
	char *member = (char *)r + gm_jfields[f].off;
	char *dst = names[gm_jfields[f].slot];
	const uint8_t *src;
	size_t n;

	switch (gm_jfields[f].kind) {
	case GM_JK_U64:
		*(uint64_t *)member = gm_get_le(g, 8);
		return 0;
	case GM_JK_U32:
		*(uint32_t *)member = (uint32_t)gm_get_le(g, 4);
		return 0;
	case GM_JK_DNAME:
	case GM_JK_XNAME:
		n = gm_get_le(g, 2);
		src = gm_get_bytes(g, n);
		if (!src || !gm_jname_ok((const char *)src, n,
					 gm_jfields[f].kind == GM_JK_DNAME))
			return -EINVAL;
		memcpy(dst, src, n);
		dst[n] = '\0';
		*(const char **)member = dst;
		return 0;
	case GM_JK_VALUE:
		n = gm_get_le(g, 4);
		if (n > GM_J_VALUE_MAX)
			return -EINVAL;
		r->value = gm_get_bytes(g, n);
		r->value_len = (uint32_t)n;
		return r->value ? 0 : -EINVAL;
	}
	return -EINVAL;
}

static int gm_jrec_parse_body(const uint8_t *body, size_t len,
			      struct gm_jrec *r, gm_jnames names)
{
	struct gm_jget g = { .p = body, .len = len };
	const uint8_t *lay;
	int err;

	memset(r, 0, sizeof(*r));
	r->type = (uint8_t)gm_get_le(&g, 1);
	err = -EINVAL;
	if (!gm_jtype_ok(r->type))
		return err;
	lay = gm_jrec_layout[r->type];
	for (int i = 0; i < GM_JF_PER_TYPE && lay[i] != GM_JF_END; i++) {
		err = gm_jfield_get(&g, r, lay[i], names);
		if (err)
			return err;
	}
	err = -EINVAL;
	if (g.bad || g.off != g.len)
		return err;
	return 0;
}

/* Record length, 0 if buf ends inside the record, or -EINVAL.  A length
 * no record can have is corrupt, not partial: waiting for more bytes
 * would never end it. */
static int gm_jrec_parse(const uint8_t *buf, size_t len, struct gm_jrec *r,
			 gm_jnames names)
{
	struct gm_jget g = { .p = buf, .len = len };
	uint32_t rec_len, crc;
	int err;

	if (len < GM_JREC_FRAME_LEN)
		return 0;
	rec_len = (uint32_t)gm_get_le(&g, 4);
	crc = (uint32_t)gm_get_le(&g, 4);
	err = -EINVAL;
	if (rec_len < 4 + 1 || rec_len > 4 + GM_JREC_BODY_MAX)
		return err;
	if (len - 4 < rec_len)
		return 0;
	if (gm_crc32c(0, buf + GM_JREC_FRAME_LEN, rec_len - 4) != crc)
		return err;
	err = gm_jrec_parse_body(buf + GM_JREC_FRAME_LEN, rec_len - 4, r, names);
	if (err)
		return err;
	return 4 + (int)rec_len;
}

/*
 * The header gives decode no scratch space, so the strings of the last
 * decoded record live in a per-thread buffer: valid until this thread's
 * next gm_jrec_decode().  Replay uses its own buffers, so a replay
 * callback may call this freely.
 */
int gm_jrec_decode(const void *buf, size_t len, struct gm_jrec *r)
{
	static __thread gm_jnames names;

	return gm_jrec_parse(buf, len, r, names);
}

/* ---- File helpers ---- */

/* One write() per record: a crash then leaves at most one torn record, at
 * the tail, where replay cuts it.  EINTR means nothing was written. */
static int gm_write_once(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* ---- Open and close ---- */

/* Check the header, or write it into an empty file.  *size becomes the
 * file size.  A file that does not start with our magic is not ours:
 * -EINVAL, and it is left exactly as it was. */
static int gm_journal_header(int fd, const char *path, off_t *size)
{
	size_t have = *size < GM_J_HDR_LEN ? (size_t)*size : GM_J_HDR_LEN;
	char hdr[GM_J_HDR_LEN];
	int err;

	err = gm_pread_full(fd, hdr, have, 0);
	if (err)
		return err;
	err = -EINVAL;
	if (memcmp(hdr, GM_J_MAGIC, have)) {
		gm_err("journal %s: not a gmemfs journal (bad header), left alone", path);
		return err;
	}
	if (have == GM_J_HDR_LEN)
		return 0;
	/* A prefix of the magic is a torn header write: nothing was ever
	 * appended after it, so starting over loses nothing. */
	if (have && ftruncate(fd, 0))
		return -errno;
	err = gm_write_once(fd, GM_J_MAGIC, GM_J_HDR_LEN);
	if (err) {
		if (ftruncate(fd, 0))
			gm_warn("journal %s: cannot cut a torn header", path);
		return err;
	}
	*size = GM_J_HDR_LEN;
	return 0;
}

static int __gm_journal_open(struct gm_journal *j, const char *path, int flags)
{
	struct stat st;
	int fd, err;

	*j = (struct gm_journal){ .fd = -1 };
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | flags, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto err_close;
	}
	err = -EINVAL;
	if (!S_ISREG(st.st_mode))
		goto err_close;
	err = gm_journal_header(fd, path, &st.st_size);
	if (err)
		goto err_close;
	err = -ENOMEM;
	j->path = strdup(path);
	if (!j->path)
		goto err_close;
	j->fd = fd;
	j->bytes = st.st_size;
	return 0;

err_close:
	close(fd);
	return err;
}

int gm_journal_open(struct gm_journal *j, const char *path)
{
	return __gm_journal_open(j, path, 0);
}

void gm_journal_close(struct gm_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	*j = (struct gm_journal){ .fd = -1 };
}

/* ---- Append ---- */

/* Put the file back to its last record boundary after a failed write.  If
 * even that fails, later appends would land behind a torn record and
 * replay would cut them all, so the journal refuses further appends. */
static void gm_journal_undo(struct gm_journal *j)
{
	if (!ftruncate(j->fd, (off_t)j->bytes))
		return;
	gm_err("journal %s: cannot cut a failed append at %llu (%s); "
	       "no more appends", j->path, (unsigned long long)j->bytes,
	       strerror(errno));
	close(j->fd);
	j->fd = -1;
}

/* Compaction's buffer: flushed when the next records would not fit, and
 * before the file is synced.  Torn pieces do not matter there: a crash
 * leaves only the .tmp file, which the next compaction truncates. */
#define GM_JWBUF_LEN	(1u << 20)

static int gm_journal_flush(struct gm_journal *j)
{
	int err;

	if (!j->wlen)
		return 0;
	err = gm_write_once(j->fd, j->wbuf, j->wlen);
	j->wlen = 0;
	return err;
}

/* Encode n records of total bytes into the compaction buffer. */
static int gm_journal_buffer(struct gm_journal *j, const struct gm_jrec *r, unsigned n,
			     size_t total)
{
	int err;

	if (j->wlen + total > GM_JWBUF_LEN) {
		err = gm_journal_flush(j);
		if (err)
			return err;
	}
	if (total > GM_JWBUF_LEN)
		return -EINVAL;	/* cannot happen: a record is far smaller */
	for (unsigned i = 0; i < n; i++)
		j->wlen += gm_jrec_encode(&r[i], j->wbuf + j->wlen, GM_JWBUF_LEN - j->wlen);
	j->records += n;
	j->bytes += total;
	return 0;
}

int gm_journal_append_n(struct gm_journal *j, const struct gm_jrec *r, unsigned n)
{
	size_t total = 0, off = 0;
	uint8_t *buf;
	int len, err;

	err = -EBADF;
	if (j->fd < 0)
		return err;
	for (unsigned i = 0; i < n; i++) {
		len = gm_jrec_body_size(&r[i]);
		if (len < 0)
			return len;
		total += (size_t)len + GM_JREC_FRAME_LEN;
	}
	if (j->wbuf)
		return gm_journal_buffer(j, r, n, total);
	err = -ENOMEM;
	buf = malloc(total ? total : 1);
	if (!buf)
		return err;
	for (unsigned i = 0; i < n; i++)
		off += gm_jrec_encode(&r[i], buf + off, total - off);
	err = gm_write_once(j->fd, buf, total);
	if (err) {
		gm_journal_undo(j);
		goto out_free;
	}
	j->records += n;
	j->bytes += total;
out_free:
	free(buf);
	return err;
}

int gm_journal_append(struct gm_journal *j, const struct gm_jrec *r)
{
	return gm_journal_append_n(j, r, 1);
}

/* ---- Replay ---- */

/* Unparsed bytes are buf[head..tail); file_off is where buf[tail] came
 * from, good_end where the last good record ends in the file. */
struct gm_jreplay {
	uint8_t *buf;
	size_t head, tail;
	uint64_t file_off;
	uint64_t good_end;
	bool eof;
};

static int gm_jreplay_refill(struct gm_journal *j, struct gm_jreplay *rp)
{
	ssize_t n;

	memmove(rp->buf, rp->buf + rp->head, rp->tail - rp->head);
	rp->tail -= rp->head;
	rp->head = 0;
	do
		n = pread(j->fd, rp->buf + rp->tail, GM_JREPLAY_BUF - rp->tail,
			  (off_t)rp->file_off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	rp->eof = n == 0;
	rp->tail += n;
	rp->file_off += n;
	return 0;
}

/* Cut the file after the last good record; why is logged, because the
 * caller only learns how many bytes went. */
static int gm_jreplay_cut(struct gm_journal *j, struct gm_jreplay *rp,
			  int why, uint64_t *dropped_bytes)
{
	uint64_t cut = rp->file_off - rp->good_end;

	if (!cut)
		return 0;
	gm_warn("journal %s: %s record at offset %llu, cutting %llu bytes",
		j->path, why ? "corrupt" : "torn",
		(unsigned long long)rp->good_end, (unsigned long long)cut);
	if (ftruncate(j->fd, (off_t)rp->good_end) || fsync(j->fd))
		return -errno;
	if (dropped_bytes)
		*dropped_bytes += cut;
	return 0;
}

int gm_journal_replay(struct gm_journal *j, gm_jrec_cb cb, void *ctx,
		      uint64_t *dropped_bytes)
{
	struct gm_jreplay rp = { .file_off = GM_J_HDR_LEN, .good_end = GM_J_HDR_LEN };
	gm_jnames names;
	struct gm_jrec r;
	uint64_t records = 0;
	int n, err;

	err = -EBADF;
	if (j->fd < 0)
		return err;
	err = -ENOMEM;
	rp.buf = malloc(GM_JREPLAY_BUF);
	if (!rp.buf)
		return err;
	for (;;) {
		n = gm_jrec_parse(rp.buf + rp.head, rp.tail - rp.head, &r, names);
		if (n == 0 && !rp.eof) {
			err = gm_jreplay_refill(j, &rp);
			if (err)
				goto out_free;
			continue;
		}
		if (n <= 0)
			break;
		err = cb(ctx, &r);
		if (err)
			goto out_free;
		rp.head += n;
		rp.good_end += n;
		records++;
	}
	err = gm_jreplay_cut(j, &rp, n, dropped_bytes);
	if (err)
		goto out_free;
	j->bytes = rp.good_end;
out_free:
	j->records = records;
	j->compacted = records;
	free(rp.buf);
	return err;
}

/* ---- Compaction ---- */

static int gm_fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, err;

	if (!slash)
		dir = strdup(".");
	else
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	err = 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		err = -errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return err;
}

/*
 * Once the rename has happened, j follows the file at j->path whatever
 * else fails: appending to the unlinked old file would lose the records.
 * A failed directory fsync is still returned, since the rename may not be
 * durable, but the new journal is in use.
 */
int gm_journal_compact(struct gm_journal *j, gm_jemit_fn emit, void *ctx)
{
	struct gm_journal fresh;
	char *tmp;
	int err;

	err = -EBADF;
	if (j->fd < 0)
		return err;
	err = -ENOMEM;
	if (asprintf(&tmp, "%s.tmp", j->path) < 0)
		return err;
	/* O_TRUNC: a .tmp left by a compaction that crashed is stale. */
	err = __gm_journal_open(&fresh, tmp, O_TRUNC);
	if (err)
		goto err_unlink;
	err = -ENOMEM;
	fresh.wbuf = malloc(GM_JWBUF_LEN);
	if (!fresh.wbuf)
		goto err_close;
	err = emit(ctx, &fresh);
	if (!err)
		err = gm_journal_flush(&fresh);
	free(fresh.wbuf);
	fresh.wbuf = NULL;
	if (err)
		goto err_close;
	if (fsync(fresh.fd) || rename(tmp, j->path)) {
		err = -errno;
		goto err_close;
	}
	err = gm_fsync_dir_of(j->path);
	close(j->fd);
	j->fd = fresh.fd;
	j->records = fresh.records;
	j->compacted = fresh.records;
	j->bytes = fresh.bytes;
	free(fresh.path);
	free(tmp);
	return err;

err_close:
	gm_journal_close(&fresh);
err_unlink:
	unlink(tmp);
	free(tmp);
	return err;
}
