/*
 * A lazy-restore session's fault thread: reads the VMM's userfaultfd
 * events and answers each page fault with the unit of the snapshot that
 * holds it (place.c), handles the VMM discarding memory
 * (UFFD_EVENT_REMOVE, UNMAP), notices the VMM's exit through its pidfd,
 * and at the end stores the faulted order as the snapshot's working set
 * (GMEMFS_CTL_F_RECORD_WS) and lets go of everything.  It never waits for
 * the FUSE loop or the control socket.
 *
 * After two faults in consecutive units (of 2 MiB at most) it reads and
 * checks the next unit while the VMM runs on (a guest walking its
 * memory), so that fault's service is the placing alone; nothing is
 * placed before its fault.
 *
 * A unit whose checksum fails is never placed (it becomes CORRUPT, see
 * uffd/unit.h): the faulting page is poisoned (UFFDIO_POISON: the VMM's
 * access gets SIGBUS) when the VMM's uffd has UFFD_FEATURE_POISON, else
 * the VMM is killed through its pidfd; either way loudly logged and
 * counted (docs/lazy-restore.md says why).  At a stop, the rest of a
 * corrupt unit is poisoned the same way.
 *
 * Not for: placing bytes (place.c), prefetching (prefetch.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "gmemfs_ctl.h"
#include "core/log.h"
#include "core/thread.h"
#include "uffd_compat.h"
#include "uffd/session.h"

#define GM_UFFD_BATCH		64
#define GM_UFFD_QUEUE		1024	/* faults held while events are drained */
#define GM_UFFD_RETRIES		2000	/* EAGAIN retries of one fault */
#define GM_UFFD_AHEAD_MAX	(2u << 20)	/* units read ahead at most this big */

struct gm_fault_ctx {
	struct gm_uffd_sess *s;
	struct gm_snap_reader rd;
	void *buf;			/* one unit */
	struct gm_uffd_placer placer;	/* rd and buf, into the VMM's mappings */
	struct uffd_msg q[GM_UFFD_QUEUE];	/* faults read, not yet served */
	unsigned nq;
	const char *end;		/* why the session ends, once it does */
	bool stopping;			/* it ends because the daemon stops */
	/* Read-ahead: after two faults in consecutive units, the next unit
	 * is read and checked while the VMM runs, so its fault only places. */
	void *ahead;			/* one unit */
	uint64_t ahead_u;		/* the unit in ahead, if ahead_ok */
	bool ahead_ok, ahead_zero;
	uint64_t last_u;		/* the last MISSING fault's unit */
	bool sequential;		/* and the one before was last_u - 1 */
};

void gm_uffd_record_latency(struct gm_uffd_sess *s, uint64_t ns)
{
	pthread_mutex_lock(&s->lock);
	if (s->nlat < GM_UFFD_LAT_SAMPLES)
		s->lat[s->nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
	pthread_mutex_unlock(&s->lock);
}

void gm_uffd_record_ws(struct gm_uffd_sess *s, uint64_t u)
{
	if (s->seen[u])
		return;
	s->seen[u] = 1;
	if (s->nws == s->ws_cap) {
		size_t cap = s->ws_cap ? 2 * s->ws_cap : 256;
		uint64_t *more = realloc(s->ws, cap * sizeof(*more));

		if (!more)
			return;		/* the working set just ends here */
		s->ws = more;
		s->ws_cap = cap;
	}
	s->ws[s->nws++] = u * s->unit;
	atomic_store(&s->ws_count, s->nws);
}

static void gm_uffd_wake(struct gm_uffd_sess *s, uint64_t addr, uint64_t len)
{
	struct uffdio_range r = { .start = addr, .len = len };

	ioctl(s->uffd, UFFDIO_WAKE, &r);
}

/* Corrupt memory the uffd cannot poison: the VMM must not run on it. */
static void gm_uffd_kill_vmm(struct gm_fault_ctx *c, const char *where, uint64_t at, int err)
{
	struct gm_uffd_sess *s = c->s;

	gm_err("%s: %s %#llx: the snapshot's bytes are corrupt and the uffd has no "
	       "UFFD_FEATURE_POISON (%s): killing the VMM rather than let it run on wrong memory",
	       s->name, where, (unsigned long long)at, strerror(-err));
	if (syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0))
		gm_err("%s: cannot kill the VMM: %s", s->name, strerror(errno));
	c->end = "the snapshot is corrupt";
}

/* A fault in a CORRUPT unit: the VMM must not run on made-up bytes. */
static void gm_uffd_corrupt(struct gm_fault_ctx *c, const struct gm_uffd_region *r,
			    uint64_t addr)
{
	struct gm_uffd_sess *s = c->s;
	int err;

	atomic_fetch_add(&s->corrupt, 1);
	err = gm_uffd_poison_page(s, r, addr & ~(r->page_size - 1));
	if (!err) {
		gm_err("%s: address %#llx: the snapshot's bytes are corrupt; the page is "
		       "poisoned, the VMM gets SIGBUS where it touches it", s->name,
		       (unsigned long long)addr);
		return;
	}
	gm_uffd_kill_vmm(c, "address", addr, err);
}

/* A CORRUPT unit at a stop: nobody will answer faults there after us. */
static void gm_uffd_corrupt_unit(struct gm_fault_ctx *c, uint64_t u)
{
	struct gm_uffd_sess *s = c->s;
	int err = gm_uffd_poison_unit(s, u);

	if (!err) {
		gm_err("%s: snapshot bytes %#llx+%llu are corrupt; their pages are poisoned, "
		       "the VMM gets SIGBUS where it touches them", s->name,
		       (unsigned long long)(u * s->unit), (unsigned long long)s->unit);
		return;
	}
	gm_uffd_kill_vmm(c, "snapshot offset", u * s->unit, err);
}

/* The prefetcher holds the unit: its COPY wakes the fault, but wait for
 * it so the order of events stays simple.  true once it is not CLAIMED. */
bool gm_uffd_wait_claim(struct gm_uffd_sess *s, uint64_t u)
{
	uint64_t t0 = gm_mono_ns();
	struct timespec ts = { .tv_nsec = 20000 };

	while (gm_uffd_unit_state(s, u) == GM_UNIT_CLAIMED) {
		if (atomic_load(&s->ending) || gm_mono_ns() - t0 > GM_UFFD_WAIT_NS)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

/* A MINOR fault: the page is in the file's page cache (the prefetcher put
 * it there).  Map its whole unit at once, as a MISSING fault would place
 * it; a unit only partly cached (a hole the prefetcher left) falls back
 * to the one page. */
static int gm_uffd_minor(struct gm_uffd_sess *s, const struct gm_uffd_region *r,
			 uint64_t page, uint64_t u)
{
	uint64_t a = u * s->unit > r->offset ? u * s->unit : r->offset;
	uint64_t e = (u + 1) * s->unit < r->offset + r->size ? (u + 1) * s->unit :
		     r->offset + r->size;
	struct uffdio_continue cont = {
		.range = { .start = r->addr + (a - r->offset), .len = e - a },
	};

	if (ioctl(s->uffd, UFFDIO_CONTINUE, &cont)) {
		cont = (struct uffdio_continue){ .range = { .start = page, .len = r->page_size } };
		if (ioctl(s->uffd, UFFDIO_CONTINUE, &cont) && errno != EEXIST)
			return errno == EAGAIN ? -EAGAIN : -errno;
	}
	atomic_fetch_add(&s->minor, 1);
	return 0;
}

/* gm_uffd_unit_place's placer for a fault: the unit read ahead if it is
 * this one, else read now. */
static int gm_uffd_fault_place(struct gm_uffd_sess *s, uint64_t u, void *ctx)
{
	struct gm_fault_ctx *c = ctx;
	uint64_t off = u * s->unit, len = s->snap.mem_size - off;

	if (!c->ahead_ok || c->ahead_u != u)
		return gm_uffd_place_unit(s, &c->rd, u, c->buf, false);
	c->ahead_ok = false;
	return gm_uffd_place_bytes(s, off, len < s->unit ? len : s->unit,
				   c->ahead_zero ? NULL : c->ahead, false);
}

/* The queue is empty and the VMM faults unit after unit: read and check
 * the next one now, while the VMM runs to its next fault.  A unit that
 * fails to read is left for its fault to read again and report. */
static void gm_uffd_read_ahead(struct gm_fault_ctx *c)
{
	struct gm_uffd_sess *s = c->s;
	uint64_t u = c->last_u + 1, off = u * s->unit, len;
	char why[GM_SNAP_WHY_MAX];

	if (!c->ahead || !c->sequential || u >= s->nunits || (c->ahead_ok && c->ahead_u == u) ||
	    gm_uffd_unit_state(s, u) != GM_UNIT_ABSENT)
		return;
	len = s->snap.mem_size - off < s->unit ? s->snap.mem_size - off : s->unit;
	c->ahead_u = u;
	c->ahead_ok = !gm_snap_read(&c->rd, off, c->ahead, len, &c->ahead_zero, why);
}

/* One page fault: 0 when answered, -EAGAIN to retry after reading the
 * VMM's pending events, another -errno when the session must end. */
static int gm_uffd_fault(struct gm_fault_ctx *c, const struct uffd_msg *m)
{
	struct gm_uffd_sess *s = c->s;
	uint64_t addr = m->arg.pagefault.address;
	const struct gm_uffd_region *r = gm_uffd_region_of(s, addr);
	uint64_t page, u;
	int err;

	if (!r) {
		gm_err("%s: fault at %#llx outside every region: answered with a zero page",
		       s->name, (unsigned long long)addr);
		struct uffdio_zeropage z = { .range = { .start = addr & ~4095ULL, .len = 4096 } };

		ioctl(s->uffd, UFFDIO_ZEROPAGE, &z);
		return 0;
	}
	page = addr & ~(r->page_size - 1);
	u = (r->offset + (page - r->addr)) / s->unit;
	gm_uffd_record_ws(s, u);
	if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR)
		return gm_uffd_minor(s, r, page, u);
	c->sequential = u == c->last_u + 1;
	c->last_u = u;
	err = gm_uffd_unit_place(s, u, gm_uffd_fault_place, c);
	if (err != -EALREADY && err != -EIO)
		return err;
	if (gm_uffd_unit_state(s, u) == GM_UNIT_CLAIMED) {
		if (!gm_uffd_wait_claim(s, u))
			gm_warn("%s: unit %llu still being prefetched after 10 s", s->name,
				(unsigned long long)u);
		if (gm_uffd_unit_state(s, u) == GM_UNIT_ABSENT)
			return -EAGAIN;		/* the prefetcher gave it back */
	}
	/* A corrupt unit is never placed; each fault in it is reported. */
	if (gm_uffd_unit_state(s, u) == GM_UNIT_CORRUPT &&
	    !gm_uffd_is_removed(s, r->offset + (page - r->addr), r->page_size)) {
		gm_uffd_corrupt(c, r, addr);
		return 0;
	}
	err = gm_uffd_place_page(s, &c->rd, r, addr, c->buf);
	if (!err)
		gm_uffd_wake(s, page, r->page_size);
	if (err == -EIO) {
		gm_uffd_corrupt(c, r, addr);
		return 0;
	}
	return err;
}

static void gm_uffd_event(struct gm_fault_ctx *c, const struct uffd_msg *m)
{
	struct gm_uffd_sess *s = c->s;

	switch (m->event) {
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		gm_uffd_note_removed(s, m->arg.remove.start, m->arg.remove.end - m->arg.remove.start);
		break;
	case UFFD_EVENT_FORK:
		/* A child's uffd landed in our fd table: not ours to serve. */
		close((int)m->arg.fork.ufd);
		gm_info("%s: the VMM forked; its child's memory is not served", s->name);
		break;
	case UFFD_EVENT_REMAP:
		gm_warn("%s: the VMM moved %#llx to %#llx; faults there are no longer served",
			s->name, (unsigned long long)m->arg.remap.from,
			(unsigned long long)m->arg.remap.to);
		break;
	default:
		gm_warn("%s: unexpected uffd event %#x ignored", s->name, m->event);
	}
}

/* Read what the uffd has: events at once, faults into the queue.  0, or
 * -errno (the session ends; -EAGAIN is nothing to read). */
static int gm_uffd_read(struct gm_fault_ctx *c)
{
	struct uffd_msg msgs[GM_UFFD_BATCH];
	size_t room = GM_UFFD_QUEUE - c->nq;
	ssize_t n;

	/* A fault read is the kernel's no more: never read one we cannot keep. */
	if (room > GM_UFFD_BATCH)
		room = GM_UFFD_BATCH;
	if (!room)
		return -EAGAIN;
	n = read(c->s->uffd, msgs, room * sizeof(msgs[0]));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
		if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
			gm_uffd_event(c, &msgs[i]);
		else
			c->q[c->nq++] = msgs[i];
	}
	return 0;
}

/* Serve the queued faults, first come first served. */
static int gm_uffd_serve_queue(struct gm_fault_ctx *c)
{
	struct gm_uffd_sess *s = c->s;
	struct timespec pause = { .tv_nsec = 100000 };
	unsigned tries = 0;
	int err = 0;

	atomic_store(&s->fault_pending, true);
	while (c->nq && !c->end) {
		uint64_t t0 = gm_mono_ns();

		err = gm_uffd_fault(c, &c->q[0]);
		if (err == -EAGAIN && ++tries < GM_UFFD_RETRIES) {
			/* The VMM's mappings are changing: its event waits for us. */
			err = gm_uffd_read(c);
			if (err && err != -EAGAIN)
				break;
			nanosleep(&pause, NULL);
			continue;
		}
		if (err)
			break;
		tries = 0;
		atomic_fetch_add(&s->faults, 1);
		gm_uffd_record_latency(s, gm_mono_ns() - t0);
		memmove(&c->q[0], &c->q[1], --c->nq * sizeof(c->q[0]));
	}
	atomic_store(&s->fault_pending, false);
	return err;
}

/* Wait for something to do: 0 to go on, or the end with c->end set. */
static int gm_uffd_wait(struct gm_fault_ctx *c)
{
	struct gm_uffd_sess *s = c->s;
	struct pollfd p[3] = {
		{ .fd = s->uffd, .events = POLLIN },
		{ .fd = s->pidfd, .events = POLLIN },
		{ .fd = s->stop_fd, .events = POLLIN },
	};

	if (poll(p, 3, -1) < 0)
		return errno == EINTR ? 0 : -errno;
	if (p[2].revents || atomic_load(&s->ending)) {
		c->end = "the daemon stops";
		c->stopping = true;
	}
	else if (p[1].revents)
		c->end = "the VMM exited";
	else if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
		c->end = "the uffd hung up";
	return 0;
}

static void gm_uffd_loop(struct gm_fault_ctx *c)
{
	int err;

	while (!c->end) {
		err = gm_uffd_wait(c);
		if (!err && !c->end)
			err = gm_uffd_read(c);
		if (err == -EAGAIN)
			err = 0;
		if (!err && !c->end)
			err = gm_uffd_serve_queue(c);
		if (!err && !c->end && !c->nq)
			gm_uffd_read_ahead(c);
		if (err == -ESRCH)
			c->end = "the VMM exited";
		else if (err && !c->end) {
			gm_err("%s: %s", c->s->name, strerror(-err));
			c->end = "an error stopped the fault service";
		}
	}
}

/* One unit at a stop: faults that came meanwhile first.  In MINOR mode a
 * unit the prefetcher wrote to the page cache is placed again, which maps
 * its pages (UFFDIO_CONTINUE) and leaves what the VMM wrote alone.  A
 * corrupt unit gets its pages poisoned, and the drain goes on. */
static int gm_uffd_drain_unit(struct gm_fault_ctx *c, uint64_t u)
{
	struct gm_uffd_sess *s = c->s;
	enum gm_uffd_unit st = gm_uffd_unit_state(s, u);
	bool remap = s->backing_fd >= 0 && st == GM_UNIT_PLACED;
	int err;

	if (st != GM_UNIT_ABSENT && st != GM_UNIT_CORRUPT && !remap)
		return 0;
	err = gm_uffd_read(c);
	if (!err || err == -EAGAIN)
		err = gm_uffd_serve_queue(c);
	if (err)
		return err;
	if (remap)
		return gm_uffd_place_unit(s, &c->rd, u, c->buf, false);
	err = gm_uffd_unit_place(s, u, gm_uffd_place_with, &c->placer);
	if (gm_uffd_unit_state(s, u) == GM_UNIT_CORRUPT) {
		gm_uffd_corrupt_unit(c, u);
		return 0;
	}
	return err == -EALREADY ? 0 : err;
}

/*
 * The daemon stops while the VMM still lacks memory: place all of it now.
 * Nobody would serve those pages after us, and the VMM would read them as
 * zeros (its copy of the uffd closed) or wait for ever: silently wrong
 * memory is worse than a slower stop.  Bounded in time; the VMM exiting
 * (ESRCH) or a corrupt unit ends it early.
 */
static void gm_uffd_drain(struct gm_fault_ctx *c)
{
	struct gm_uffd_sess *s = c->s;
	uint64_t t0 = gm_mono_ns(), before = atomic_load(&s->bytes);
	const char *end = c->end;
	int err = 0;

	if (s->prefetching)
		pthread_join(s->prefetch_thread, NULL);
	s->prefetching = false;
	c->end = NULL;
	for (uint64_t u = 0; u < s->nunits && !err && !c->end; u++) {
		err = gm_uffd_drain_unit(c, u);
		if (!err && gm_mono_ns() - t0 > GM_UFFD_DRAIN_NS)
			err = -ETIMEDOUT;
	}
	if (err && err != -ESRCH)
		gm_err("%s: placing the rest before the daemon stops: %s; the VMM may find "
		       "memory nobody serves", s->name, strerror(-err));
	gm_info("%s: the daemon stops: placed the %llu bytes still missing in %llu ms",
		s->name, (unsigned long long)(atomic_load(&s->bytes) - before),
		(unsigned long long)(gm_mono_ns() - t0) / 1000000);
	c->end = end;
}

void gm_uffd_store_ws(struct gm_uffd_sess *s)
{
	char why[GM_SNAP_WHY_MAX];
	int err;

	if (!(s->flags & GMEMFS_CTL_F_RECORD_WS) || !s->nws)
		return;
	err = gm_snap_store_ws(&s->snap, s->ws, s->nws, why);
	if (err)
		gm_err("%s: storing the working set of %zu units: %s", s->name, s->nws, why);
	else
		gm_info("%s: stored a working set of %zu units in the snapshot", s->name, s->nws);
}

void gm_uffd_start_prefetch(struct gm_uffd_sess *s)
{
	int err;

	/* In ask mode the prefetcher also places the rest, after the
	 * working set: the file must end up whole. */
	if (s->flags & GMEMFS_CTL_F_NO_PREFETCH || (!s->ask && !s->snap.layers[0].hdr.nr_ws))
		return;
	err = gm_thread_start(&s->prefetch_thread, gm_uffd_prefetch_main, s);
	if (err)
		gm_warn("%s: no prefetch thread: %s", s->name, strerror(-err));
	s->prefetching = !err;
}

void gm_uffd_stop_prefetch(struct gm_uffd_sess *s)
{
	atomic_store(&s->ending, true);
	if (s->prefetching)
		pthread_join(s->prefetch_thread, NULL);
	s->prefetching = false;
}

void gm_uffd_sess_end(struct gm_uffd_sess *s, const char *end)
{
	struct gm_uffd_figures f;

	gm_uffd_store_ws(s);
	gm_uffd_sess_figures(s, &f);
	gm_info("%s ends: %s; %llu faults (%llu MINOR), %llu bytes placed, %llu prefetched, "
		"%llu corrupt, fault service p50 %llu ns p99 %llu ns", s->name, end,
		(unsigned long long)f.faults, (unsigned long long)f.minor,
		(unsigned long long)f.bytes, (unsigned long long)f.prefetched,
		(unsigned long long)f.corrupt, (unsigned long long)f.lat_p50_ns,
		(unsigned long long)f.lat_p99_ns);
	gm_uffd_sess_release(s);
	atomic_store(&s->done, true);
}

/* Every region of s, to the uffd ioctl req (UFFDIO_WAKE, UNREGISTER). */
static void gm_uffd_regions_ioctl(struct gm_uffd_sess *s, unsigned long req, const char *what)
{
	for (unsigned i = 0; i < s->nregions; i++) {
		struct uffdio_range r = { .start = s->regions[i].addr, .len = s->regions[i].size };

		if (ioctl(s->uffd, req, &r) && errno != ESRCH && errno != ENOENT)
			gm_warn("%s: %s region %u: %s", s->name, what, i, strerror(errno));
	}
}

/*
 * The daemon stops.  With every unit in, the VMM's registration is undone
 * (the uffd acts on the VMM's mm, whoever holds it), so the copy of the
 * uffd libgmemfs keeps makes no later fault wait for a daemon: the kernel
 * serves them as without userfaultfd.  With units missing, the record
 * stays, and the next daemon resumes the session.
 */
static void gm_uffd_stop_end(struct gm_uffd_sess *s)
{
	if (atomic_load(&s->units_done) >= s->units_covered) {
		if (s->uffd >= 0)
			gm_uffd_regions_ioctl(s, UFFDIO_UNREGISTER, "unregistering");
		return;
	}
	s->keep_record = s->map != NULL;
	gm_warn("%s: %llu of %llu units still missing at the stop; its record stays for the "
		"next daemon to resume", s->name,
		(unsigned long long)(s->units_covered - atomic_load(&s->units_done)),
		(unsigned long long)s->units_covered);
}

static void gm_uffd_finish(struct gm_fault_ctx *c)
{
	if (c->stopping)
		gm_uffd_stop_end(c->s);
	if (c->rd.s)
		gm_snap_reader_fini(&c->rd);
	c->rd.s = NULL;
	gm_uffd_stop_prefetch(c->s);
	gm_uffd_sess_end(c->s, c->end);
}

void *gm_uffd_fault_main(void *arg)
{
	struct gm_fault_ctx *c = calloc(1, sizeof(*c));
	struct gm_uffd_sess *s = arg;

	if (!c || gm_snap_reader_init(&c->rd, &s->snap) ||
	    posix_memalign(&c->buf, 4096, s->unit) ||
	    (s->unit <= GM_UFFD_AHEAD_MAX && posix_memalign(&c->ahead, 4096, s->unit))) {
		gm_err("%s: no memory to serve faults", s->name);
		if (c)
			c->end = "out of memory";
	}
	if (c && !c->end) {
		c->s = s;
		c->placer = (struct gm_uffd_placer){ .rd = &c->rd, .buf = c->buf };
		/* The VMM shares this file description; it never reads it. */
		fcntl(s->uffd, F_SETFL, fcntl(s->uffd, F_GETFL) | O_NONBLOCK);
		/* Faults the dead daemon read and never answered wait in the
		 * kernel unseen: woken, they fault again, and we read them. */
		if (s->resumed)
			gm_uffd_regions_ioctl(s, UFFDIO_WAKE, "waking");
		gm_uffd_start_prefetch(s);
		gm_uffd_loop(c);
		if (c->stopping)
			gm_uffd_drain(c);
	}
	if (c) {
		c->s = s;
		gm_uffd_finish(c);
		free(c->buf);
		free(c->ahead);
		free(c);
	} else {
		gm_uffd_sess_release(s);
		atomic_store(&s->done, true);
	}
	return NULL;
}
