/*
 * Metadata journal: an append-only log of namespace and attribute changes
 * (names, directories, symlinks and other nodes, modes, owners, policies,
 * xattrs) kept in the state directory, so a restarted gmemfsd rebuilds
 * the same tree.  File contents are not here: they live in the providers'
 * backing files.
 *
 * On-disk format (little-endian, documented in docs/state-dir.md):
 *   file header: "GMEMFSJ1" (8 bytes)
 *   record:      u32 len (bytes after this field), u32 crc32c of the body,
 *                body = u8 type, then the type's fields (see journal.c).
 * Replay stops at the first record that is short or fails its CRC, truncates
 * the file there (a torn last record from a crash), and reports it.
 *
 * Not for: deciding what the records mean (recover.c applies them) or
 * locking (callers serialize appends under fs->tree_lock).
 */
#ifndef GM_JOURNAL_H
#define GM_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

enum gm_jrec_type {
	GM_J_NEW = 1,		/* ino, parent, name, mode, uid, gid, policy, time_ns */
	GM_J_LINK = 2,		/* ino, parent, name, time_ns */
	GM_J_UNLINK = 3,	/* parent, name, time_ns */
	GM_J_RENAME = 4,	/* parent, name, parent2, name2, flags, time_ns */
	GM_J_ATTR = 5,		/* ino, mode, uid, gid, time_ns */
	GM_J_POLICY = 6,	/* ino, policy */
	GM_J_XATTR_SET = 7,	/* ino, name, value/value_len */
	GM_J_XATTR_DEL = 8,	/* ino, name */
	GM_J_NODE = 9,		/* ino, parent, name, mode, uid, gid, time_ns, rdev,
				 * value (a symlink's target; empty otherwise) */
	GM_J_IFLAGS = 10,	/* ino, flags (chattr flags, iflags.h), time_ns */
	GM_J_TIMES = 11,	/* ino, atime_ns, mtime_ns, time_ns (the ctime) */
	GM_J_INO_MARK = 12,	/* ino: no inode number below it is given out again */
	GM_J_PRIVATE = 13,	/* ino, offset, length, flags (GM_J_PRIVATE_*): a
				 * shim file's range became private or shared
				 * (meta/private.c) */
	GM_J_TYPE_MAX = GM_J_PRIVATE,
};

/* One record, decoded.  Strings point into the replay buffer (valid only
 * during the callback) or into the caller's memory (append).  Fields a type
 * does not use are ignored on append and zero on replay. */
struct gm_jrec {
	uint8_t type;
	uint64_t ino;
	uint64_t parent;
	uint64_t parent2;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t flags;
	uint32_t policy;
	uint64_t time_ns;	/* all times: ns since the epoch, as int64_t */
	uint64_t atime_ns, mtime_ns;
	uint64_t rdev;
	uint64_t offset, length;	/* GM_J_PRIVATE: bytes */
	const char *name;	/* NUL-terminated, at most 255 bytes */
	const char *name2;	/* NUL-terminated, at most 255 bytes */
	const void *value;
	uint32_t value_len;	/* at most GM_J_VALUE_MAX */
};

/* GM_J_PRIVATE flags: the range is private (else shared). */
#define GM_J_PRIVATE_ON	(1u << 0)

#define GM_J_NAME_MAX	255
#define GM_J_VALUE_MAX	65536

struct gm_journal {
	int fd;			/* O_APPEND; -1 when closed */
	char *path;
	uint64_t records;	/* records in the file (replayed + appended) */
	uint64_t compacted;	/* records it had after the last replay or compaction:
				 * the cost of the next compaction is about this, so
				 * waiting for as many new ones keeps it O(1) a record */
	uint64_t bytes;		/* file size */
	/* A journal being written by compaction gathers records here and
	 * writes them in large pieces (NULL: one write() per append). */
	uint8_t *wbuf;
	size_t wlen;
};

/* Open (creating if absent) the journal at path.  0 or -errno. */
int gm_journal_open(struct gm_journal *j, const char *path);
void gm_journal_close(struct gm_journal *j);

/* Call cb for each valid record in order.  A torn or corrupt tail is cut
 * off (ftruncate) and counted in *dropped_bytes.  Stops and returns cb's
 * value if cb returns nonzero.  0 or -errno. */
typedef int (*gm_jrec_cb)(void *ctx, const struct gm_jrec *r);
int gm_journal_replay(struct gm_journal *j, gm_jrec_cb cb, void *ctx,
		      uint64_t *dropped_bytes);

/* Append one record with a single write().  -EINVAL for a record that
 * would not replay (bad type, name too long), else 0 or -errno. */
int gm_journal_append(struct gm_journal *j, const struct gm_jrec *r);
/* Append n records with one write(): a change that takes two records (a
 * rename that leaves a whiteout) survives a crash whole or not at all. */
int gm_journal_append_n(struct gm_journal *j, const struct gm_jrec *r, unsigned n);

/* Rewrite the journal from scratch: emit() is called with a fresh journal
 * (a temporary file next to the real one) to append the records describing
 * the live tree; then the temporary file atomically replaces the journal
 * and j refers to it.  On failure the old journal is kept.  0 or -errno. */
typedef int (*gm_jemit_fn)(void *ctx, struct gm_journal *fresh);
int gm_journal_compact(struct gm_journal *j, gm_jemit_fn emit, void *ctx);

/* Encoding, exposed for unit tests and fuzzing: encode r into buf (size
 * cap); returns the encoded length or -EINVAL / -ENOSPC.  decode parses one
 * record from buf/len; returns its length, 0 if buf holds only a partial
 * record, -EINVAL if the record is corrupt. */
int gm_jrec_encode(const struct gm_jrec *r, void *buf, size_t cap);
int gm_jrec_decode(const void *buf, size_t len, struct gm_jrec *r);

#endif
