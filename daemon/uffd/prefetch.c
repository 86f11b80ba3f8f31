/*
 * A lazy-restore session's prefetch thread: places the units of the
 * snapshot's stored working set (layer 0's, the order a previous lazy
 * restore faulted them) in that order, in the background, so the VMM finds
 * them there instead of faulting.  Faults come first: between runs it
 * waits while the fault thread has faults queued, and it only takes units
 * nobody placed yet (ABSENT -> CLAIMED), so the two never place one twice.
 * In shmem MINOR mode it writes into the file's backing (the page cache);
 * the VMM's first touch is then a MINOR fault, answered with
 * UFFDIO_CONTINUE.
 *
 * It works in runs, planned up front: working-set entries that are
 * consecutive chunks, up to GM_PREFETCH_RUN bytes, read with one request
 * and placed with one UFFDIO_COPY (a pread and an ioctl per 64 KiB unit
 * cost more than the copy itself).  A reader thread of its own reads and
 * checks the runs up to GM_PREFETCH_DEPTH ahead, so reading overlaps
 * placing.  When the index stores the working set's bytes
 * (GMEMFS_SNAP_F_WS_DATA) and its slots hold a run's units whole, the run
 * is read from there: one sequential pass over the file, asked for at the
 * start (POSIX_FADV_WILLNEED) so the disk works while the first runs are
 * placed, each slot checked against its crc.  Else, and after a slot that
 * fails its crc, from the image (gm_snap_read: every extent's crc).  A
 * run that cannot be placed whole (a unit faulted meanwhile, EAGAIN, a
 * corrupt extent) is placed in the pieces still free, or a unit at a
 * time; bytes read before their units are claimed are still right, since
 * what the VMM discarded meanwhile is zeroed when they are placed.
 *
 * The unit's states are uffd/unit.c's.
 *
 * Not for: faults (serve.c), placing bytes (place.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "core/log.h"
#include "core/pread.h"
#include "core/thread.h"
#include "uffd/session.h"

#define GM_PREFETCH_RETRIES	200		/* EAGAIN retries of one unit */
#define GM_PREFETCH_RUN		(4ULL << 20)	/* bytes read and placed at once */
#define GM_PREFETCH_DEPTH	3		/* runs read ahead of the placer */

/* One run of the plan: k units from u0, the first in slot `slot` of the
 * index's working-set bytes when in_section. */
struct gm_prefetch_run {
	uint64_t u0, k, slot;
	bool in_section;
};

/* A run read (and checked) ahead of its placing. */
struct gm_prefetch_buf {
	uint8_t *bytes;			/* buf_len */
	int err;			/* 0, or -EBADMSG: place it unit by unit */
	bool zero;			/* from the image, all zero */
};

struct gm_prefetch {
	struct gm_uffd_sess *s;
	struct gm_snap_reader rd;	/* the placer's, for units placed alone */
	uint8_t *buf;			/* the placer's: one unit */
	uint64_t buf_len;		/* bytes of a run at most */
	bool via_backing;		/* MINOR mode: into the page cache */
	struct gm_prefetch_run *plan;	/* what to place, in order; immutable */
	size_t nplan;

	/* The reader thread's own. */
	struct gm_snap_reader rd_ahead;
	bool section;			/* the index's bytes have been good so far */
	uint64_t read_ns, crc_ns;	/* read after it is joined */

	pthread_mutex_t lock;		/* the ring's indices */
	pthread_cond_t cond;
	size_t nread, nplaced;		/* runs read, placed; under lock */
	bool stop;			/* the placer is done; under lock */
	unsigned depth;			/* ring slots in use: GM_PREFETCH_DEPTH, or 1
					 * for units larger than a run (1 GiB pages:
					 * a buffer each is enough memory) */
	struct gm_prefetch_buf ring[GM_PREFETCH_DEPTH];	/* run i in ring[i % depth]:
					 * the reader's until nread > i, then the
					 * placer's until nplaced > i */

	/* The placer's: where the time goes. */
	uint64_t place_ns, wait_ns, runs, unit_fallbacks;
};

/* Yield to the fault thread while it has faults to serve. */
static bool gm_prefetch_yield(struct gm_uffd_sess *s)
{
	struct timespec ts = { .tv_nsec = 20000 };

	while (atomic_load(&s->fault_pending) && !atomic_load(&s->ending))
		nanosleep(&ts, NULL);
	return !atomic_load(&s->ending);
}

static uint64_t gm_prefetch_len(const struct gm_uffd_sess *s, uint64_t u0, uint64_t k)
{
	uint64_t off = u0 * s->unit, left = s->snap.mem_size - off;

	return k * s->unit < left ? k * s->unit : left;
}

/* Unit u alone, if nobody has it yet, read from the image: 0, or -errno
 * when prefetching must stop. */
static int gm_prefetch_unit(struct gm_prefetch *p, uint64_t u)
{
	struct gm_uffd_sess *s = p->s;
	struct gm_uffd_placer pl = { .rd = &p->rd, .buf = p->buf, .via_backing = p->via_backing };
	struct timespec pause = { .tv_nsec = 200000 };
	int err = -EAGAIN;

	p->unit_fallbacks++;
	for (unsigned tries = 0; err == -EAGAIN && tries < GM_PREFETCH_RETRIES; tries++) {
		if (!gm_prefetch_yield(s))
			return -ECANCELED;
		err = gm_uffd_unit_place(s, u, gm_uffd_place_with, &pl);
		if (err == -EALREADY)
			return 0;	/* faulted, removed or placed already */
		if (!err)
			atomic_fetch_add(&s->prefetched, gm_prefetch_len(s, u, 1));
		if (err == -EAGAIN)
			nanosleep(&pause, NULL);
	}
	/* A corrupt unit is the fault thread's to report, at the fault. */
	return err == -EIO ? 0 : err;
}

/* Run r's bytes from the index's working-set slots (a chunk each,
 * consecutive from r->slot), each checked; a bad one turns the reader to
 * the image for good. */
static int gm_prefetch_read_section(struct gm_prefetch *p, const struct gm_prefetch_run *r,
				    uint8_t *buf)
{
	struct gm_uffd_sess *s = p->s;
	const struct gm_snap_layer *l = &s->snap.layers[0];
	uint64_t chunk = s->snap.chunk_size, off = r->u0 * s->unit;
	uint64_t len = gm_prefetch_len(s, r->u0, r->k), t0 = gm_mono_ns(), t1;
	int err;

	err = gm_pread_full(l->idx_fd, buf, (len + chunk - 1) / chunk * chunk,
				l->hdr.ws_data_offset + r->slot * chunk);
	t1 = gm_mono_ns();
	p->read_ns += t1 - t0;
	for (uint64_t i = 0; !err && i * chunk < len; i++) {
		uint64_t n = len - i * chunk < chunk ? len - i * chunk : chunk;

		if (gm_crc32c(0, buf + i * chunk, n) != l->ws_crc[r->slot + i]) {
			gm_warn("%s: the index's copy of working-set entry %llu (offset %#llx) fails "
				"its checksum: reading the image from here on", s->name,
				(unsigned long long)(r->slot + i),
				(unsigned long long)(off + i * chunk));
			err = -EBADMSG;
		}
	}
	p->crc_ns += gm_mono_ns() - t1;
	if (err)
		p->section = false;
	return err;
}

/* Read run r into b: from the index's slots or the image, checked.
 * Anything wrong is -EBADMSG: its units are then placed one by one, and
 * a corrupt one becomes CORRUPT alone. */
static void gm_prefetch_read_run(struct gm_prefetch *p, const struct gm_prefetch_run *r,
				 struct gm_prefetch_buf *b)
{
	struct gm_uffd_sess *s = p->s;
	char why[GM_SNAP_WHY_MAX];
	uint64_t t0;

	b->zero = false;
	if (p->section && r->in_section) {
		b->err = gm_prefetch_read_section(p, r, b->bytes);
		if (!b->err)
			return;
	}
	t0 = gm_mono_ns();
	b->err = gm_snap_read(&p->rd_ahead, r->u0 * s->unit, b->bytes,
			      gm_prefetch_len(s, r->u0, r->k), &b->zero, why) ? -EBADMSG : 0;
	p->read_ns += gm_mono_ns() - t0;
}

/* The reader thread: the plan's runs into the ring, at most
 * GM_PREFETCH_DEPTH ahead of the placer, so reading and checking one run
 * overlaps placing the one before. */
static void *gm_prefetch_reader_main(void *arg)
{
	struct gm_prefetch *p = arg;

	for (size_t i = 0; i < p->nplan; i++) {
		pthread_mutex_lock(&p->lock);
		while (i >= p->nplaced + p->depth && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		pthread_mutex_unlock(&p->lock);
		gm_prefetch_read_run(p, &p->plan[i], &p->ring[i % p->depth]);
		pthread_mutex_lock(&p->lock);
		p->nread = i + 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

/* Placing what the reader read: run r's bytes in b. */
struct gm_prefetch_place {
	struct gm_prefetch *p;
	const struct gm_prefetch_run *r;
	struct gm_prefetch_buf *b;
};

static int gm_prefetch_place_from(struct gm_uffd_sess *s, uint64_t u0, uint64_t k, void *ctx)
{
	struct gm_prefetch_place *pp = ctx;
	uint64_t len = gm_prefetch_len(s, u0, k), t0 = gm_mono_ns();
	uint8_t *bytes = pp->b->bytes + (u0 - pp->r->u0) * s->unit;
	int err;

	err = gm_uffd_place_bytes(s, u0 * s->unit, len, pp->b->zero ? NULL : bytes,
				  pp->p->via_backing);
	pp->p->place_ns += gm_mono_ns() - t0;
	pp->p->runs++;
	if (!err)
		atomic_fetch_add(&s->prefetched, len);
	/* Not placed whole: let the caller place the units one by one. */
	return err == -EIO ? -EBADMSG : err;
}

/* Run r, read into b: what nobody has taken yet, as few placements as it
 * takes.  0, or -errno when prefetching must stop. */
static int gm_prefetch_place_run(struct gm_prefetch *p, const struct gm_prefetch_run *r,
				 struct gm_prefetch_buf *b)
{
	struct gm_prefetch_place pp = { .p = p, .r = r, .b = b };
	struct gm_uffd_sess *s = p->s;
	int err = 0;

	for (uint64_t i = 0; i < r->k && !err;) {
		uint64_t claimed = 1;

		if (!gm_prefetch_yield(s))
			return -ECANCELED;
		if (b->err)
			err = -EBADMSG;
		else
			err = gm_uffd_units_place(s, r->u0 + i, r->k - i, &claimed,
						  gm_prefetch_place_from, &pp);
		if (err == -EALREADY) {
			i++;		/* faulted, removed or placed already */
			err = 0;
			continue;
		}
		if (err == -ESRCH)
			return err;
		for (uint64_t j = 0; err && j < claimed; j++) {
			int e = gm_prefetch_unit(p, r->u0 + i + j);

			if (e)
				return e;
		}
		err = 0;
		i += claimed;
	}
	return err;
}

/* Add the run of the units that hold [off, end) to the plan, cut into
 * buffers; from the index's slots (ws: the chunks of [off, end) are in
 * the slots from `slot` on) when they cover those units whole. */
static int gm_prefetch_plan_add(struct gm_prefetch *p, uint64_t off, uint64_t end, uint64_t slot,
				bool ws, size_t *cap)
{
	struct gm_uffd_sess *s = p->s;
	uint64_t max = p->buf_len / s->unit, per = s->unit / s->snap.chunk_size;
	uint64_t u0 = off / s->unit, u1 = (end + s->unit - 1) / s->unit;
	bool whole = ws && !(off % s->unit) && (!(end % s->unit) || end == s->snap.mem_size);

	for (uint64_t u = u0; u < u1; u += max) {
		if (p->nplan == *cap) {
			size_t ncap = *cap ? 2 * *cap : 64;
			struct gm_prefetch_run *more = realloc(p->plan, ncap * sizeof(*more));

			if (!more)
				return -ENOMEM;
			p->plan = more;
			*cap = ncap;
		}
		p->plan[p->nplan++] = (struct gm_prefetch_run){
			.u0 = u, .k = u1 - u < max ? u1 - u : max,
			.slot = slot + (u - u0) * per, .in_section = whole,
		};
	}
	return 0;
}

/* The plan: the working set in runs of entries whose chunks follow each
 * other (the units that hold them; the index's slots serve a run when
 * they cover its units whole: always when the unit is the chunk, with
 * 2 MiB units when the working set holds every chunk of them in order),
 * then in ask mode every unit, so the file ends up whole. */
static int gm_prefetch_plan(struct gm_prefetch *p)
{
	struct gm_uffd_sess *s = p->s;
	const struct gm_snap_layer *l = &s->snap.layers[0];
	uint64_t chunk = s->snap.chunk_size, max = p->buf_len / chunk, i = 0;
	size_t cap = 0;
	int err = 0;

	while (i < l->hdr.nr_ws && !err) {
		uint64_t c0 = l->ws[i].offset / chunk, k = 1, slot = i, end;

		for (i++; i < l->hdr.nr_ws && k < max && l->ws[i].offset / chunk == c0 + k; i++)
			k++;
		end = (c0 + k) * chunk < s->snap.mem_size ? (c0 + k) * chunk : s->snap.mem_size;
		err = gm_prefetch_plan_add(p, c0 * chunk, end, slot, true, &cap);
	}
	if (!err && s->ask)
		err = gm_prefetch_plan_add(p, 0, s->snap.mem_size, 0, false, &cap);
	return err;
}

/* Wait for run i to be read: false if the session ends meanwhile. */
static bool gm_prefetch_wait_read(struct gm_prefetch *p, size_t i)
{
	uint64_t t0 = gm_mono_ns();
	bool ok = true;

	pthread_mutex_lock(&p->lock);
	while (p->nread <= i && ok) {
		struct timespec ts;

		/* Bounded, so the end of the session is seen. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		ok = !atomic_load(&p->s->ending);
	}
	pthread_mutex_unlock(&p->lock);
	p->wait_ns += gm_mono_ns() - t0;
	return ok;
}

/* The placer: every run of the plan in order, as the reader has it. */
static int gm_prefetch_place_all(struct gm_prefetch *p, size_t *done)
{
	int err = 0;

	for (size_t i = 0; i < p->nplan && !err; i++) {
		if (!gm_prefetch_wait_read(p, i))
			return -ECANCELED;
		err = gm_prefetch_place_run(p, &p->plan[i], &p->ring[i % p->depth]);
		pthread_mutex_lock(&p->lock);
		p->nplaced = i + 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		*done = i + 1;
	}
	return err;
}

static void gm_prefetch_all(struct gm_prefetch *p)
{
	struct gm_uffd_sess *s = p->s;
	const struct gm_snap_layer *l = &s->snap.layers[0];
	uint64_t t0 = gm_mono_ns();
	bool section = p->section;
	pthread_t reader;
	size_t done = 0;
	int err;

	if (section)
		posix_fadvise(l->idx_fd, (off_t)l->hdr.ws_data_offset,
			      (off_t)(l->hdr.nr_ws * s->snap.chunk_size), POSIX_FADV_WILLNEED);
	err = gm_prefetch_plan(p);
	if (!err)
		err = gm_thread_start(&reader, gm_prefetch_reader_main, p);
	if (!err) {
		err = gm_prefetch_place_all(p, &done);
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(reader, NULL);
	}
	if (err && err != -ECANCELED && err != -ESRCH)
		gm_warn("%s: prefetching stopped: %s", s->name, strerror(-err));
	gm_info("%s: prefetcher done after %zu of %zu runs (%llu working-set entries), %llu bytes "
		"placed in %llu ms from the %s: reading %llu ms and checking %llu ms (reader "
		"thread), placing %llu ms in %llu copies and waiting %llu ms for the reader, "
		"%llu units alone", s->name, done, p->nplan, (unsigned long long)l->hdr.nr_ws,
		(unsigned long long)atomic_load(&s->prefetched),
		(unsigned long long)(gm_mono_ns() - t0) / 1000000,
		section ? "index's working-set bytes" : "image",
		(unsigned long long)p->read_ns / 1000000, (unsigned long long)p->crc_ns / 1000000,
		(unsigned long long)p->place_ns / 1000000, (unsigned long long)p->runs,
		(unsigned long long)p->wait_ns / 1000000, (unsigned long long)p->unit_fallbacks);
}

/* Buffers for the placer and the ring: 0, or -ENOMEM. */
static int gm_prefetch_buffers(struct gm_prefetch *p, bool alloc)
{
	void *b;

	if (!alloc) {
		free(p->buf);
		for (int i = 0; i < GM_PREFETCH_DEPTH; i++)
			free(p->ring[i].bytes);
		return 0;
	}
	if (posix_memalign(&b, 4096, p->s->unit))
		return -ENOMEM;
	p->buf = b;
	for (unsigned i = 0; i < p->depth; i++) {
		if (posix_memalign(&b, 4096, p->buf_len))
			return -ENOMEM;
		p->ring[i].bytes = b;
	}
	return 0;
}

void *gm_uffd_prefetch_main(void *arg)
{
	struct gm_uffd_sess *s = arg;
	struct gm_prefetch p = {
		.s = s,
		.buf_len = s->unit > GM_PREFETCH_RUN ? s->unit : GM_PREFETCH_RUN,
		/* In MINOR mode the VMM still maps each page: the unit is placed
		 * for the prefetcher's purposes once in the page cache. */
		.via_backing = s->backing_fd >= 0,
		.section = gm_snap_has_ws_data(&s->snap),
		.depth = s->unit > GM_PREFETCH_RUN ? 1 : GM_PREFETCH_DEPTH,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};

	if (gm_snap_reader_init(&p.rd, &s->snap) || gm_snap_reader_init(&p.rd_ahead, &s->snap) ||
	    gm_prefetch_buffers(&p, true))
		gm_warn("%s: no memory to prefetch", s->name);
	else
		gm_prefetch_all(&p);
	gm_prefetch_buffers(&p, false);
	gm_snap_reader_fini(&p.rd);
	gm_snap_reader_fini(&p.rd_ahead);
	free(p.plan);
	if (s->ask)
		gm_ask_kick(s->ask);	/* the fault thread sees it is complete */
	return NULL;
}
