/*
 * Lazy restore in ask mode: a shim file (prov/shim.h) restored from a
 * snapshot with no userfaultfd.  The file is turned to the shim's ask mode,
 * so every miss in it (a VMM's fault, read(), write(), the pfncache, KVM)
 * becomes a FAULT the module sends the daemon.  The session's fault thread
 * answers each by placing the unit that holds it (checksums verified before
 * a byte goes in; a corrupt unit fails that fault: SIGBUS), the prefetcher
 * places the recorded working set and then the rest, faults first, and
 * once every unit is in the file goes back to auto mode and the session
 * ends.  The session is a struct gm_uffd_sess whose regions are one,
 * mapping the file's offsets to themselves: the unit states, working-set
 * recording and prefetch are the uffd sessions' own.
 *
 * Events reach the session through a queue the shim's event thread fills
 * (gm_shim_route): FAULT to answer, INVALIDATE (a punch: zeros from then
 * on; the file's release: the end).  Lock order: meta/inode.h (the queue's
 * lock is a leaf, taken under the shim provider's).
 *
 * Not for: restores through a uffd (serve.c), the module's side (shim/).
 */
#ifndef GM_UFFD_ASK_H
#define GM_UFFD_ASK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/chan.h"

struct gm_uffd_sess;

struct gm_ask_ev {
	uint32_t type;			/* GMEMFS_SHIM_EV_FAULT or _INVALIDATE */
	uint32_t req_id, flags;
	uint64_t offset, length;
};

struct gm_ask {
	uint64_t ino;			/* the gmemfs file; immutable */
	uint32_t kid;			/* its shim file; immutable */
	bool routed, asking;		/* the session's thread only */
	int efd;			/* eventfd: events are queued */
	pthread_mutex_t lock;		/* q */
	struct gm_ask_ev *q;
	size_t nq, cap;
};

/* The restore of file ino: its shim file, the queue.  -ENOENT (not a shim
 * file), -ENOMEM, with why. */
int gm_ask_new(uint64_t ino, struct gm_ask **out, char why[GM_CHAN_WHY_MAX]);
void gm_ask_free(struct gm_ask *a);
/* Route the file's events to the session and turn it to ask mode. */
int gm_ask_begin(struct gm_uffd_sess *s, char why[GM_CHAN_WHY_MAX]);
/* A session that never started: the file back to auto mode, unrouted. */
void gm_ask_abort(struct gm_ask *a);
/* The session's fault thread in ask mode. */
void *gm_ask_main(void *arg);
/* Put the unit at off (len bytes in buf; NULL: all zero) in the file. */
int gm_ask_place(struct gm_uffd_sess *s, uint64_t off, uint64_t len, const uint8_t *buf);
/* Wake the fault thread (the prefetcher is done). */
void gm_ask_kick(struct gm_ask *a);

#endif
