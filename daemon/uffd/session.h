/*
 * Lazy-restore sessions (docs/lazy-restore.md): one VMM's userfaultfd
 * served from one snapshot.  A session owns the uffd, the snapshot chain's
 * fds, the VMM's pidfd and, in shmem MINOR mode, the gmemfs file's backing
 * fd; a fault thread (serve.c) serves faults until the VMM exits, a
 * prefetch thread (prefetch.c) places the snapshot's stored working
 * set meanwhile.  Both place memory a unit at a time: the snapshot chunk
 * (or a region's page, if larger) that holds the faulting address, so the
 * per-unit state (uffd/unit.h, which owns its transitions) is the only
 * thing they share besides counters.
 *
 * The registry (a list under one mutex) is what SESSIONS lists and what
 * the daemon stops and joins at unmount.  Lock order: meta/inode.h.
 *
 * Not for: the handshakes (ctl/cmd_lazy.c, ctl/fc.c), reading snapshots
 * (snap/format.c).
 */
#ifndef GM_UFFD_SESS_H
#define GM_UFFD_SESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <urcu/list.h>

#include "common/chan.h"
#include "snap/format.h"
#include "uffd/ask.h"
#include "uffd/unit.h"

#define GM_UFFD_MAX_REGIONS	32
#define GM_UFFD_MAX_SESSIONS	256	/* two threads each */
#define GM_UFFD_MAX_REMOVED	(1u << 20)	/* discarded ranges remembered */
#define GM_UFFD_LAT_SAMPLES	65536	/* the first faults' service times */
#define GM_UFFD_WAIT_NS		10000000000ULL	/* for the prefetcher's unit: 10 s */
#define GM_UFFD_DRAIN_NS	120000000000ULL	/* placing the rest at a stop: 2 min */

/* One mapping of guest memory registered with the uffd. */
struct gm_uffd_region {
	uint64_t addr;		/* VMM's host virtual address */
	uint64_t size;		/* bytes, multiple of page_size */
	uint64_t offset;	/* in the snapshot's memory */
	uint64_t page_size;	/* the mapping's page size */
};

struct gm_uffd_range {
	uint64_t off, len;
};

/* What SESSIONS reports. */
struct gm_uffd_figures {
	uint64_t id;
	pid_t pid;
	uid_t uid;
	uint32_t state;			/* enum gmemfs_sess_state */
	uint64_t faults, bytes, prefetched, minor, corrupt, removed, ws;
	uint64_t lat_p50_ns, lat_p99_ns;
	uint64_t unit;
};

struct gm_uffd_sess {
	struct cds_list_head node;	/* gm_uffd_reg.list; under its lock */
	uint64_t id;			/* immutable once registered */
	pid_t pid;			/* the VMM; immutable */
	uid_t uid;
	char name[48];			/* "session 3 (pid 1234)", for logs */
	uint32_t flags;			/* GMEMFS_CTL_F_*; immutable */
	uint32_t kind;			/* enum gm_lazyrec_kind; immutable */
	uint64_t pid_start;		/* the VMM's start time (lazyrec.h) */
	uint64_t file_ino;		/* ask or MINOR mode: the file; else 0 */
	bool resumed;			/* from a record, after a restart */
	bool keep_record;		/* ends with units missing at a stop:
					 * the record stays for the next daemon */
	uint64_t *map;			/* STATE/lazy/<id>.map (lazyrec.h), or NULL
					 * (unrecorded); bits set atomically */
	size_t map_len;

	/* Owned fds, immutable until the fault thread closes them at its end. */
	int uffd;
	int pidfd;			/* readable once the VMM exits */
	int stop_fd;			/* eventfd: the daemon asks the session to end;
					 * closed (-1) under gm_uffd_reg.lock */
	int backing_fd;			/* MINOR mode: the file's backing; else -1 */
	struct gm_ask *ask;		/* ask mode (uffd/ask.h): the shim file's
					 * restore, and uffd is -1; else NULL */
	int snap_fds[GM_CHAN_CHAIN_FDS];
	unsigned nsnap_fds;

	struct gm_snap snap;		/* read-only after gm_snap_open */
	bool snap_open;			/* snap needs gm_snap_close */
	void *zero;			/* unit bytes of read-only zero pages */
	struct gm_uffd_region regions[GM_UFFD_MAX_REGIONS];	/* immutable */
	unsigned nregions;
	uint64_t unit;			/* bytes: chunk_size or the largest page */
	uint64_t nunits;		/* units of the snapshot's memory */
	_Atomic uint8_t *units;		/* enum gm_uffd_unit per unit; only
					 * uffd/unit.c changes them */

	pthread_t fault_thread;
	pthread_t prefetch_thread;
	bool prefetching;		/* prefetch_thread started; fault thread only */
	atomic_bool fault_pending;	/* the fault thread has faults to serve:
					 * the prefetcher waits between units */
	atomic_bool ending;		/* both threads stop at the next check */
	atomic_bool done;		/* the fault thread released everything */

	/* The fault thread's own: the order units were first faulted. */
	uint64_t *ws;
	size_t nws, ws_cap;
	uint8_t *seen;			/* per unit: already in ws */

	pthread_mutex_t lock;		/* removed, lat */
	struct gm_uffd_range *removed;	/* snapshot ranges the VMM discarded,
					 * sorted, merged; under lock */
	unsigned nremoved, removed_cap;
	uint32_t *lat;			/* ns per fault, GM_UFFD_LAT_SAMPLES */
	unsigned nlat;

	atomic_uint_fast64_t faults, bytes, prefetched, minor, corrupt, removed_bytes, ws_count;
	atomic_uint state;		/* enum gmemfs_sess_state */
	uint64_t units_covered;		/* units some region maps; immutable */
	atomic_uint_fast64_t units_done;	/* of those, PLACED or REMOVED */
};

/* A new session from the request's parts: takes uffd, pidfd, backing_fd
 * and the chain's fds (the caller sets its copies to -1 on success and
 * also on failure: they are closed here either way), opens the chain and
 * checks the regions against it.  0 and *out, or -errno with why. */
struct gm_uffd_sess_args {
	int uffd, pidfd, backing_fd;
	int *snap_fds;
	unsigned nsnap_fds;
	const struct gm_uffd_region *regions;
	unsigned nregions;
	uint32_t flags;
	pid_t pid;
	uid_t uid;
	uint64_t backing_size;		/* MINOR mode: the file's size */
	uint64_t ask_ino;		/* ask mode: the shim file restored (the
					 * one region maps its offsets); else 0 */
	uint32_t kind;			/* enum gm_lazyrec_kind */
	uint64_t file_ino;		/* MINOR mode: PATH's file */
	uint64_t resume_id;		/* resuming this recorded session; else 0 */
};
int gm_uffd_sess_new(struct gm_uffd_sess_args *a, struct gm_uffd_sess **out,
		     char why[GM_CHAN_WHY_MAX]);
/* Register and start the threads; on failure the session is freed. */
int gm_uffd_sess_start(struct gm_uffd_sess *s, uint64_t *id, char why[GM_CHAN_WHY_MAX]);
/* Free a session never started, or ended and joined. */
void gm_uffd_sess_free(struct gm_uffd_sess *s);
/* Close the session's fds and the snapshot (the fault thread, at its end). */
void gm_uffd_sess_release(struct gm_uffd_sess *s);

/* The region holding addr, or NULL. */
const struct gm_uffd_region *gm_uffd_region_of(const struct gm_uffd_sess *s, uint64_t addr);
/* Is the snapshot range [off, off + len) inside a removed range? */
bool gm_uffd_is_removed(struct gm_uffd_sess *s, uint64_t off, uint64_t len);
/* Read unit u of the snapshot into buf (s->unit bytes) and place it in
 * every region that maps it, pages already there left alone (and, in
 * MINOR mode, mapped with UFFDIO_CONTINUE).  0, -ESRCH (the VMM is gone),
 * -EIO (a checksum failed: placed nothing), -EAGAIN (the VMM's mappings
 * are changing: retry after its events are read). */
int gm_uffd_place_unit(struct gm_uffd_sess *s, struct gm_snap_reader *rd, uint64_t u,
		       void *buf, bool via_backing);
/* Place the snapshot memory [off, off + len) (whole units; buf holds
 * its bytes, read and verified, or is NULL for zeros) as
 * gm_uffd_place_unit places one unit's: every region's part in one
 * UFFDIO_COPY, discarded pages zeroed first.  Same results. */
int gm_uffd_place_bytes(struct gm_uffd_sess *s, uint64_t off, uint64_t len, void *buf,
			bool via_backing);
/* Serve one page the fault thread found in a unit already PLACED or
 * REMOVED: zero if discarded, else the snapshot's bytes.  As above. */
int gm_uffd_place_page(struct gm_uffd_sess *s, struct gm_snap_reader *rd,
		       const struct gm_uffd_region *r, uint64_t addr, void *buf);
/* What gm_uffd_place_with needs: gm_uffd_place_unit's arguments. */
struct gm_uffd_placer {
	struct gm_snap_reader *rd;
	void *buf;			/* s->unit bytes */
	bool via_backing;		/* MINOR-mode prefetch: into the page cache */
};
/* gm_uffd_place_unit() as a gm_uffd_place_fn; ctx is a gm_uffd_placer. */
int gm_uffd_place_with(struct gm_uffd_sess *s, uint64_t u, void *ctx);
/* Poison the page at dst of region r: the VMM's access gets SIGBUS.
 * -errno as UFFDIO_POISON fails (EINVAL: the uffd lacks the feature). */
int gm_uffd_poison_page(struct gm_uffd_sess *s, const struct gm_uffd_region *r, uint64_t dst);
/* A CORRUPT unit at a stop: poison its pages in every region that maps
 * it, zero those the VMM discarded; pages already there stay.  0, or the
 * first poison's -errno other than EEXIST (present) or ENOENT/EFAULT
 * (unmapped). */
int gm_uffd_poison_unit(struct gm_uffd_sess *s, uint64_t u);
/* Note that the VMM discarded [addr, addr + len) (UFFD_EVENT_REMOVE or
 * UNMAP): later faults there get zero pages, the prefetcher skips it. */
void gm_uffd_note_removed(struct gm_uffd_sess *s, uint64_t addr, uint64_t len);
/* The same for [off, off + len) of the snapshot's memory (a resumed
 * session's recorded discards). */
void gm_uffd_note_removed_off(struct gm_uffd_sess *s, uint64_t off, uint64_t len);

/* A session's figures now. */
void gm_uffd_sess_figures(struct gm_uffd_sess *s, struct gm_uffd_figures *f);
/* Every live session's figures to fn, for uid (or all if uid is 0);
 * finished sessions are joined and freed first. */
int gm_uffd_sessions_each(uid_t uid, int (*fn)(void *ctx, const struct gm_uffd_figures *f),
			  void *ctx);
/* Session ids up to max_id are recorded in the state dir: new sessions
 * get larger ones. */
void gm_uffd_sessions_reserve(uint64_t max_id);
/* At unmount: end every session, join and free it. */
void gm_uffd_sessions_stop_all(void);

/* serve.c, also for ask mode (uffd/ask.c) */
void *gm_uffd_fault_main(void *arg);
void gm_uffd_record_latency(struct gm_uffd_sess *s, uint64_t ns);
/* Note unit u's first fault in the working set (the fault thread only). */
void gm_uffd_record_ws(struct gm_uffd_sess *s, uint64_t u);
/* Wait while the prefetcher holds unit u: true once it is not CLAIMED. */
bool gm_uffd_wait_claim(struct gm_uffd_sess *s, uint64_t u);
/* Start the prefetch thread, if the session prefetches. */
void gm_uffd_start_prefetch(struct gm_uffd_sess *s);
/* Store the faulted order in the snapshot (GMEMFS_CTL_F_RECORD_WS). */
void gm_uffd_store_ws(struct gm_uffd_sess *s);
/* The fault thread's end: the prefetcher told to stop and joined; then
 * the working set stored, the figures logged with why it ends, the
 * session's fds released and the session marked done. */
void gm_uffd_stop_prefetch(struct gm_uffd_sess *s);
void gm_uffd_sess_end(struct gm_uffd_sess *s, const char *end);
/* prefetch.c */
void *gm_uffd_prefetch_main(void *arg);

#endif
