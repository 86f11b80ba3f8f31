/*
 * Lazy restore in ask mode (see ask.h): the queue the shim's event thread
 * fills, the session's fault thread, and placing a unit with POPULATE.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "core/log.h"
#include "gmemfs_ctl.h"
#include "prov/shim.h"
#include "uffd/ask.h"
#include "uffd/session.h"

#define WHY(...) snprintf(why, GM_CHAN_WHY_MAX, __VA_ARGS__)
#define GM_ASK_QUEUE_MAX	(1u << 20)	/* events held at once */
#define GM_ASK_POPULATE_MAX	(2u << 20)	/* bytes per POPULATE */
#define GM_ASK_POLL_MS		1000		/* completion checked at least this often */
#define GM_ASK_PAGE		4096u

struct gm_ask_ctx {
	struct gm_uffd_sess *s;
	struct gm_snap_reader rd;
	void *buf;			/* one unit */
	struct gm_uffd_placer placer;
	const char *end;		/* why the session ends, once it does */
	bool stopping;
};

int gm_ask_new(uint64_t ino, struct gm_ask **out, char why[GM_CHAN_WHY_MAX])
{
	struct gm_ask *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return WHY("no memory for the restore"), -ENOMEM;
	a->ino = ino;
	err = gm_shim_file_id(ino, &a->kid);
	if (err) {
		free(a);
		return WHY("file %llu has no shim file: %s", (unsigned long long)ino,
			   strerror(-err)), err;
	}
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		err = -errno;
		free(a);
		return WHY("eventfd: %s", strerror(-err)), err;
	}
	pthread_mutex_init(&a->lock, NULL);
	*out = a;
	return 0;
}

void gm_ask_kick(struct gm_ask *a)
{
	uint64_t one = 1;

	if (write(a->efd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		gm_warn("ask restore of file %llu: waking it: %s", (unsigned long long)a->ino,
			strerror(errno));
}

/* The shim's event thread, its lock held: queue and wake, nothing more. */
static void gm_ask_enqueue(void *ctx, const struct gm_shimc_event *ev)
{
	struct gm_ask *a = ctx;
	struct gm_ask_ev *more;

	pthread_mutex_lock(&a->lock);
	if (a->nq == a->cap && a->cap < GM_ASK_QUEUE_MAX) {
		more = realloc(a->q, (a->cap ? 2 * a->cap : 64) * sizeof(*more));
		if (more) {
			a->q = more;
			a->cap = a->cap ? 2 * a->cap : 64;
		}
	}
	if (a->nq < a->cap)
		a->q[a->nq++] = (struct gm_ask_ev){ .type = ev->type, .req_id = ev->req_id,
						     .flags = ev->flags, .offset = ev->offset,
						     .length = ev->length };
	else	/* The fault's wait ends in the module's timeout: SIGBUS, not zeros. */
		gm_err("ask restore of file %llu: event queue full; event %u at %llu dropped",
		       (unsigned long long)a->ino, ev->type, (unsigned long long)ev->offset);
	pthread_mutex_unlock(&a->lock);
	gm_ask_kick(a);
}

void gm_ask_free(struct gm_ask *a)
{
	if (!a)
		return;
	if (a->routed)
		gm_shim_unroute(a->kid, a->asking);
	close(a->efd);
	free(a->q);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

int gm_ask_begin(struct gm_uffd_sess *s, char why[GM_CHAN_WHY_MAX])
{
	struct gm_ask *a = s->ask;
	int err;

	err = gm_shim_route(a->kid, gm_ask_enqueue, a);
	if (err)
		return WHY("file %llu is being restored already", (unsigned long long)a->ino), err;
	a->routed = true;
	err = gm_shim_set_mode(a->kid, GMEMFS_SHIM_FAULT_ASK);
	if (err)
		return WHY("turning the file to ask mode: %s", strerror(-err)), err;
	a->asking = true;
	return 0;
}

void gm_ask_abort(struct gm_ask *a)
{
	if (a->asking && !gm_shim_set_mode(a->kid, GMEMFS_SHIM_FAULT_AUTO))
		a->asking = false;
	if (a->routed)
		gm_shim_unroute(a->kid, a->asking);
	a->routed = false;
}

/* Populate [off, off + len): private pages (EACCES) are skipped one by one,
 * pages already there (EEXIST) stay. */
static int gm_ask_populate(struct gm_ask *a, uint64_t off, uint64_t len, const uint8_t *buf)
{
	int err = gm_shim_populate(a->kid, off, buf, len, 0);

	if (err == -EACCES && len > GM_ASK_PAGE) {
		for (uint64_t p = 0; p < len; p += GM_ASK_PAGE) {
			err = gm_ask_populate(a, off + p, GM_ASK_PAGE, buf ? buf + p : NULL);
			if (err)
				return err;
		}
	}
	return err == -EEXIST || err == -EACCES ? 0 : err;
}

/* Whether this thread's last gm_ask_place() met an all-zero unit. */
static __thread bool gm_ask_placed_zero;

int gm_ask_place(struct gm_uffd_sess *s, uint64_t off, uint64_t len, const uint8_t *buf)
{
	int err = 0;

	gm_ask_placed_zero = !buf;

	/* A zero unit stays a hole: a fault there gets a zero page, and once
	 * the file is back in auto mode the kernel's zero pages do. */
	for (uint64_t p = 0; buf && p < len && !err; p += GM_ASK_POPULATE_MAX) {
		uint64_t n = len - p < GM_ASK_POPULATE_MAX ? len - p : GM_ASK_POPULATE_MAX;

		err = gm_ask_populate(s->ask, off + p, (n + GM_ASK_PAGE - 1) & ~(uint64_t)(GM_ASK_PAGE - 1),
				      buf + p);
	}
	return err;
}

/* The bytes of [off, off + len) (inside unit u) for a fault: zero where the
 * file was punched, else the snapshot's.  -EIO: they failed their checksum. */
static int gm_ask_answer_page(struct gm_ask_ctx *c, const struct gm_ask_ev *ev, uint64_t u)
{
	struct gm_uffd_sess *s = c->s;
	uint64_t uoff = u * s->unit, ulen = s->unit;
	char why[GM_SNAP_WHY_MAX];
	bool zero = true;
	int err;

	if (uoff + ulen > s->snap.mem_size)
		ulen = s->snap.mem_size - uoff;
	if (ev->offset + ev->length > uoff + ulen)
		return -ERANGE;
	if (!gm_uffd_is_removed(s, ev->offset, ev->length)) {
		err = gm_snap_read(&c->rd, uoff, c->buf, ulen, &zero, why);
		if (err) {
			gm_err("%s: snapshot bytes %#llx+%llu: %s", s->name,
			       (unsigned long long)uoff, (unsigned long long)ulen, why);
			return err;
		}
	}
	err = gm_shim_populate(s->ask->kid, ev->offset,
			       zero ? NULL : (uint8_t *)c->buf + (ev->offset - uoff), ev->length,
			       ev->req_id);
	if (!err)
		atomic_fetch_add(&s->bytes, ev->length);
	return err;
}

/* A fault in a unit whose bytes are corrupt: SIGBUS, never made-up bytes. */
static void gm_ask_corrupt(struct gm_ask_ctx *c, const struct gm_ask_ev *ev)
{
	struct gm_uffd_sess *s = c->s;

	atomic_fetch_add(&s->corrupt, 1);
	gm_err("%s: file offset %#llx: the snapshot's bytes are corrupt; the fault gets SIGBUS",
	       s->name, (unsigned long long)ev->offset);
	gm_shim_done(ev->req_id, -EIO);
}

/* One FAULT: place its unit if nobody has, then answer it: DONE when this
 * placed the page, else POPULATE of the faulting page with its REQ_ID
 * (zeros of a hole or a punch, or the snapshot's bytes again). */
static void gm_ask_fault(struct gm_ask_ctx *c, const struct gm_ask_ev *ev)
{
	struct gm_uffd_sess *s = c->s;
	uint64_t u = ev->offset / s->unit, t0 = gm_mono_ns();
	int err;

	if (u >= s->nunits) {
		/* Past the snapshot (the file grew since): zeros are its bytes. */
		err = gm_shim_populate(s->ask->kid, ev->offset, NULL, ev->length, ev->req_id);
		if (err)
			gm_shim_done(ev->req_id, err);
		return;
	}
	gm_uffd_record_ws(s, u);
	err = gm_uffd_unit_place(s, u, gm_uffd_place_with, &c->placer);
	if (err == -EALREADY && gm_uffd_unit_state(s, u) == GM_UNIT_CLAIMED &&
	    !gm_uffd_wait_claim(s, u))
		gm_warn("%s: unit %llu still being prefetched after 10 s", s->name,
			(unsigned long long)u);
	if (gm_uffd_unit_state(s, u) == GM_UNIT_CORRUPT &&
	    !gm_uffd_is_removed(s, ev->offset, ev->length))
		return gm_ask_corrupt(c, ev);
	if (err && err != -EALREADY) {
		gm_err("%s: file offset %#llx: placing its unit: %s; the fault gets SIGBUS",
		       s->name, (unsigned long long)ev->offset, strerror(-err));
		gm_shim_done(ev->req_id, err);
		return;
	}
	if (!err && !gm_ask_placed_zero)
		err = gm_shim_done(ev->req_id, 0);	/* its page is in: retry */
	else
		err = gm_ask_answer_page(c, ev, u);
	if (err == -EIO)
		return gm_ask_corrupt(c, ev);
	if (err) {
		gm_err("%s: file offset %#llx: answering the fault: %s", s->name,
		       (unsigned long long)ev->offset, strerror(-err));
		gm_shim_done(ev->req_id, err);
		return;
	}
	atomic_fetch_add(&s->faults, 1);
	gm_uffd_record_latency(s, gm_mono_ns() - t0);
}

static void gm_ask_event(struct gm_ask_ctx *c, const struct gm_ask_ev *ev)
{
	if (ev->type == GMEMFS_SHIM_EV_FAULT)
		gm_ask_fault(c, ev);
	else if (ev->flags & GMEMFS_SHIM_INVAL_RELEASE)
		c->end = "the file is gone";
	else	/* punched or truncated: zeros there from now on */
		gm_uffd_note_removed(c->s, ev->offset, ev->length);
}

/* Serve what is queued, in the module's order. */
static void gm_ask_serve(struct gm_ask_ctx *c)
{
	struct gm_ask *a = c->s->ask;
	struct gm_ask_ev *q;
	size_t n;
	uint64_t cnt;

	if (read(a->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		gm_warn("%s: reading its eventfd: %s", c->s->name, strerror(errno));
	pthread_mutex_lock(&a->lock);
	q = a->q;
	n = a->nq;
	a->q = NULL;
	a->nq = a->cap = 0;
	pthread_mutex_unlock(&a->lock);
	atomic_store(&c->s->fault_pending, n > 0);
	for (size_t i = 0; i < n; i++)
		gm_ask_event(c, &q[i]);
	atomic_store(&c->s->fault_pending, false);
	free(q);
}

static bool gm_ask_complete(struct gm_uffd_sess *s)
{
	return atomic_load(&s->units_done) >= s->units_covered;
}

static void gm_ask_loop(struct gm_ask_ctx *c)
{
	struct gm_uffd_sess *s = c->s;
	struct pollfd p[2] = {
		{ .fd = s->ask->efd, .events = POLLIN },
		{ .fd = s->stop_fd, .events = POLLIN },
	};

	while (!c->end) {
		if (poll(p, 2, GM_ASK_POLL_MS) < 0 && errno != EINTR) {
			gm_err("%s: poll: %s", s->name, strerror(errno));
			c->end = "an error stopped the fault service";
			break;
		}
		if (p[1].revents || atomic_load(&s->ending)) {
			c->end = "the daemon stops";
			c->stopping = true;
		}
		gm_ask_serve(c);
		if (!c->end && gm_ask_complete(s))
			c->end = "every unit is placed";
	}
}

/* The daemon stops: place every unit still missing, faults first, for
 * nobody would answer them after us.  Bounded as the uffd drain is. */
static void gm_ask_drain(struct gm_ask_ctx *c)
{
	struct gm_uffd_sess *s = c->s;
	uint64_t t0 = gm_mono_ns(), before = atomic_load(&s->bytes);
	int err = 0;

	if (s->prefetching)
		pthread_join(s->prefetch_thread, NULL);
	s->prefetching = false;
	for (uint64_t u = 0; u < s->nunits && !err; u++) {
		gm_ask_serve(c);
		err = gm_uffd_unit_place(s, u, gm_uffd_place_with, &c->placer);
		if (err == -EALREADY || err == -EIO)
			err = 0;	/* placed, removed, or corrupt: stays asking */
		if (!err && gm_mono_ns() - t0 > GM_UFFD_DRAIN_NS)
			err = -ETIMEDOUT;
	}
	gm_ask_serve(c);
	if (err)
		gm_err("%s: placing the rest before the daemon stops: %s", s->name,
		       strerror(-err));
	gm_info("%s: the daemon stops: placed the %llu bytes still missing in %llu ms",
		s->name, (unsigned long long)(atomic_load(&s->bytes) - before),
		(unsigned long long)(gm_mono_ns() - t0) / 1000000);
}

/* Back to auto mode only when every unit is in: a hole left in ask mode
 * faults to SIGBUS once nobody answers, never to a zero page. */
static void gm_ask_release_file(struct gm_ask_ctx *c)
{
	struct gm_uffd_sess *s = c->s;
	struct gm_ask *a = s->ask;
	int err = a->asking && gm_ask_complete(s) ?
		  gm_shim_set_mode(a->kid, GMEMFS_SHIM_FAULT_AUTO) : -EAGAIN;

	if (!err || err == -ENOENT)	/* in auto mode, or gone with its release */
		a->asking = false;
	else if (a->asking && strcmp(c->end, "the file is gone"))
		gm_err("%s: file %llu stays in ask mode: %llu of %llu units are not in it "
		       "(corrupt or not placed); faults there get SIGBUS", s->name,
		       (unsigned long long)a->ino,
		       (unsigned long long)(s->units_covered - atomic_load(&s->units_done)),
		       (unsigned long long)s->units_covered);
	/* Unrouted first: what comes later is the provider's (a retry, or
	 * SIGBUS if stuck); what was queued before still gets its answer. */
	gm_shim_unroute(a->kid, a->asking);
	a->routed = false;
	gm_ask_serve(c);
}

static void gm_ask_finish(struct gm_ask_ctx *c)
{
	/* A stop that left units out: the module keeps the file in ask mode
	 * and its faults waiting; the record lets the next daemon resume. */
	if (c->stopping && !gm_ask_complete(c->s))
		c->s->keep_record = c->s->map != NULL;
	gm_uffd_stop_prefetch(c->s);
	gm_ask_release_file(c);
	if (c->rd.s)
		gm_snap_reader_fini(&c->rd);
	gm_uffd_sess_end(c->s, c->end);
}

void *gm_ask_main(void *arg)
{
	struct gm_ask_ctx c = { .s = arg };
	struct gm_uffd_sess *s = arg;

	if (gm_snap_reader_init(&c.rd, &s->snap) || posix_memalign(&c.buf, 4096, s->unit)) {
		/* Nobody answers: the file stays in ask mode, faults SIGBUS. */
		gm_err("%s: no memory to serve faults", s->name);
		c.end = "out of memory";
		c.buf = NULL;
	} else {
		c.placer = (struct gm_uffd_placer){ .rd = &c.rd, .buf = c.buf };
		gm_uffd_start_prefetch(s);
		gm_ask_loop(&c);
		if (c.stopping)
			gm_ask_drain(&c);
	}
	gm_ask_finish(&c);
	free(c.buf);
	return NULL;
}
