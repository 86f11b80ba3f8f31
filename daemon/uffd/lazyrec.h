/*
 * The record of each lazy restore in the state directory, so that a
 * daemon restarted after kill -9 can resume it (docs/state-dir.md "Lazy
 * restores", docs/lazy-restore.md "Daemon death and resume"):
 *
 *   STATE/lazy/<id>.rec	what the session serves: its kind, the VMM (pid
 *			and start time) and regions, or the file, and each
 *			snapshot layer's paths and identity; written once,
 *			at the session's start (temporary file + rename).
 *   STATE/lazy/<id>.map	which units are placed and which 4 KiB pages the
 *			VMM discarded: two bitmaps, mapped MAP_SHARED by the
 *			session, a bit set (atomic OR) right after each
 *			placement or discard, so the fault path pays one
 *			memory write and the page cache keeps it when the
 *			daemon dies.
 *
 * Both are removed when the session ends, unless it ends with units
 * missing because the daemon stops (a restarted daemon resumes it then).
 * A unit placed whose bit was not yet set is placed again on resume; its
 * pages are there, so the kernel answers EEXIST and they stay as the VMM
 * left them.
 *
 * Not for: resuming a session from its record (uffd/resume.c).
 */
#ifndef GM_UFFD_LAZYREC_H
#define GM_UFFD_LAZYREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gmemfs_snap.h"
#include "common/chan.h"

#define GM_LAZYREC_MAGIC	"GMLAZYR1"
#define GM_LAZYREC_VERSION	1
#define GM_LAZYREC_MAX_REGIONS	32	/* GM_UFFD_MAX_REGIONS */
#define GM_LAZYREC_PATH_MAX	4096

/* Who hands the uffd back after a restart. */
enum gm_lazyrec_kind {
	GM_LAZYREC_CTL = 1,	/* RESTORE_LAZY: libgmemfs sends RESUME_LAZY */
	GM_LAZYREC_FC = 2,	/* UFFD_LISTEN: the daemon takes it (pidfd_getfd) */
	GM_LAZYREC_ASK = 3,	/* a shim file in ask mode: not resumed yet */
};

/* One snapshot file as the session opened it. */
struct gm_lazyrec_file {
	uint64_t dev, ino, size, mtime_ns;
};

struct gm_lazyrec_layer {
	struct gm_lazyrec_file img, idx;
	uint8_t uuid[16];		/* the index header's */
	uint32_t hdr_crc;		/* CRC-32C of the index header */
	uint32_t reserved;
};

struct gm_lazyrec_region {
	uint64_t addr, size, offset, page_size;
};

/* STATE/lazy/<id>.rec, up to paths; then for each layer its image's and
 * its index's path, NUL-terminated; then a CRC-32C of all before it. */
struct gm_lazyrec {
	char magic[8];
	uint32_t version, kind;
	uint64_t id;
	uint32_t flags;			/* GMEMFS_CTL_F_* */
	uint32_t pid;			/* the VMM; 0 in ask mode */
	uint64_t pid_start;		/* its start, clock ticks after boot */
	uint32_t uid, nregions;
	uint32_t nlayers, reserved;
	uint64_t file_ino;		/* ask or MINOR mode: the gmemfs file */
	uint64_t mem_size, unit, nunits;
	struct gm_lazyrec_region regions[GM_LAZYREC_MAX_REGIONS];
	struct gm_lazyrec_layer layers[GMEMFS_SNAP_MAX_DEPTH];
	/* A loaded record's paths (not stored in this form). */
	char *img_path[GMEMFS_SNAP_MAX_DEPTH], *idx_path[GMEMFS_SNAP_MAX_DEPTH];
};
#define GM_LAZYREC_FIXED	offsetof(struct gm_lazyrec, img_path)

struct gm_uffd_sess;

/* Make STATE/lazy (0700) and keep it open; the largest session id it
 * records (0 if none) in *max_id.  0 or -errno. */
int gm_lazyrec_init(const char *state_dir, uint64_t *max_id);
/* The record of s (its id set), and its map, mapped into s.  0 or
 * -errno; the session then runs unrecorded (the caller logs it). */
int gm_lazyrec_create(struct gm_uffd_sess *s);
/* Map the existing map of the resumed session s.  0 or -errno. */
int gm_lazyrec_attach(struct gm_uffd_sess *s);
/* Unit u of s is placed; [off, off + len) of its memory was discarded. */
void gm_lazyrec_placed(struct gm_uffd_sess *s, uint64_t u);
void gm_lazyrec_discarded(struct gm_uffd_sess *s, uint64_t off, uint64_t len);
/* Set s's units and discarded ranges from its map (a resumed session,
 * before its threads start). */
void gm_lazyrec_apply(struct gm_uffd_sess *s);
/* Unmap s's map; with drop, remove its record and map too. */
void gm_lazyrec_close(struct gm_uffd_sess *s, bool drop);
/* Remove the record and map of session id. */
void gm_lazyrec_drop(uint64_t id);

/* Load the record of session id: 0 and *out (free with gm_lazyrec_free),
 * -ENOENT (none), or -EINVAL with why (torn or not a record). */
int gm_lazyrec_load(uint64_t id, struct gm_lazyrec **out, char why[GM_CHAN_WHY_MAX]);
void gm_lazyrec_free(struct gm_lazyrec *rec);
/* Every recorded session's id, to fn. */
void gm_lazyrec_each(void (*fn)(uint64_t id, void *ctx), void *ctx);
/* A process's start time (/proc/PID/stat field 22): 0 and *start, or -errno. */
int gm_lazyrec_pid_start(pid_t pid, uint64_t *start);

#endif
