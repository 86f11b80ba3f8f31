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
 * It works in runs: working-set entries that are consecutive units, up to
 * GM_PREFETCH_RUN bytes, read with one request and placed with one
 * UFFDIO_COPY (a pread and an ioctl per 64 KiB unit cost more than the
 * copy itself).  When the index stores the working set's bytes
 * (GMEMFS_SNAP_F_WS_DATA) and its slots hold a run's units whole, the run
 * is read from there: one sequential pass over the file, asked for at the start
 * (POSIX_FADV_WILLNEED) so the disk works while the first runs are placed,
 * each slot checked against its crc.  Else, and for a slot that fails
 * its crc, from the image (gm_snap_read: every extent's crc).  A run that
 * cannot be placed whole is placed a unit at a time.
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
#include "uffd/session.h"

#define GM_PREFETCH_RETRIES	200		/* EAGAIN retries of one unit */
#define GM_PREFETCH_RUN		(4ULL << 20)	/* bytes read and placed at once */

struct gm_prefetch {
	struct gm_uffd_sess *s;
	struct gm_snap_reader rd;
	uint8_t *buf;			/* buf_len bytes: a run */
	uint64_t buf_len;
	bool via_backing;		/* MINOR mode: into the page cache */
	bool section;			/* the index's working-set bytes are good */
	bool run_in_section;		/* and hold this run's units whole */
	uint64_t slot;			/* section: the run's first working-set entry */
	/* Where the time goes, logged at the end. */
	uint64_t read_ns, crc_ns, place_ns, runs, unit_fallbacks;
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

/* Unit u alone, if nobody has it yet: 0, or -errno when prefetching must
 * stop. */
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

static int gm_prefetch_pread(int fd, uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* The run's bytes from the index's working-set slots (a chunk each,
 * consecutive from p->slot), each checked. */
static int gm_prefetch_read_section(struct gm_prefetch *p, uint64_t u0, uint64_t k)
{
	struct gm_uffd_sess *s = p->s;
	const struct gm_snap_layer *l = &s->snap.layers[0];
	uint64_t chunk = s->snap.chunk_size, off = u0 * s->unit;
	uint64_t len = gm_prefetch_len(s, u0, k), t0 = gm_mono_ns(), t1;
	int err;

	err = gm_prefetch_pread(l->idx_fd, p->buf, (len + chunk - 1) / chunk * chunk,
				l->hdr.ws_data_offset + p->slot * chunk);
	t1 = gm_mono_ns();
	p->read_ns += t1 - t0;
	for (uint64_t i = 0; !err && i * chunk < len; i++) {
		uint64_t n = len - i * chunk < chunk ? len - i * chunk : chunk;

		if (gm_crc32c(0, p->buf + i * chunk, n) != l->ws_crc[p->slot + i]) {
			gm_warn("%s: the index's copy of working-set entry %llu (offset %#llx) fails "
				"its checksum: reading the image from here on", s->name,
				(unsigned long long)(p->slot + i),
				(unsigned long long)(off + i * chunk));
			err = -EBADMSG;
		}
	}
	p->crc_ns += gm_mono_ns() - t1;
	if (err == -EBADMSG || err == -EIO)
		p->section = false;
	return err;
}

/* gm_uffd_units_place's placer: read the run, then one placement.  A run
 * of more than one unit that cannot go whole answers -EBADMSG, which
 * leaves its units ABSENT for gm_prefetch_unit (a corrupt unit among them
 * must become CORRUPT alone). */
static int gm_prefetch_place_run(struct gm_uffd_sess *s, uint64_t u0, uint64_t k, void *ctx)
{
	struct gm_prefetch *p = ctx;
	uint64_t off = u0 * s->unit, len = gm_prefetch_len(s, u0, k), t0;
	char why[GM_SNAP_WHY_MAX];
	bool zero = false;
	int err;

	if (p->section && p->run_in_section) {
		err = gm_prefetch_read_section(p, u0, k);
	} else {
		t0 = gm_mono_ns();
		err = gm_snap_read(&p->rd, off, p->buf, len, &zero, why);
		p->read_ns += gm_mono_ns() - t0;
		if (err && k == 1)
			gm_err("%s: snapshot bytes %#llx+%llu: %s", s->name,
			       (unsigned long long)off, (unsigned long long)len, why);
		if (err == -EIO && k == 1)
			return err;
	}
	if (err)
		return -EBADMSG;
	t0 = gm_mono_ns();
	err = gm_uffd_place_bytes(s, off, len, zero ? NULL : p->buf, p->via_backing);
	p->place_ns += gm_mono_ns() - t0;
	p->runs++;
	if (!err)
		atomic_fetch_add(&s->prefetched, len);
	return err == -EIO && k > 1 ? -EBADMSG : err;
}

/* The run of k units from u0 (its first working-set slot `slot`): what
 * nobody has taken yet, as few placements as it takes.  0, or -errno
 * when prefetching must stop. */
static int gm_prefetch_run(struct gm_prefetch *p, uint64_t u0, uint64_t k, uint64_t slot)
{
	struct gm_uffd_sess *s = p->s;
	uint64_t max = p->buf_len / s->unit;
	int err = 0;

	for (uint64_t i = 0; i < k && !err;) {
		uint64_t claimed = 0;

		if (!gm_prefetch_yield(s))
			return -ECANCELED;
		p->slot = slot + i * (s->unit / s->snap.chunk_size);
		/* At most a buffer: a run cut mid-unit may hold more units. */
		err = gm_uffd_units_place(s, u0 + i, k - i < max ? k - i : max, &claimed,
					  gm_prefetch_place_run, p);
		if (err == -EALREADY) {
			i++;		/* faulted, removed or placed already */
			err = 0;
			continue;
		}
		if (err == -ESRCH)
			return err;
		/* Not placed whole: one at a time, with their retries. */
		for (uint64_t j = 0; err && j < claimed; j++) {
			int e = gm_prefetch_unit(p, u0 + i + j);

			if (e)
				return e;
		}
		err = 0;
		i += claimed;
	}
	return err;
}

/* The working set in runs: entries whose chunks follow each other, up to
 * a buffer.  The run places the units that hold those chunks; the
 * index's slots serve it when they cover its units whole (always when
 * the unit is the chunk; with 2 MiB units, when the working set holds
 * every chunk of them in order), else the image does. */
static int gm_prefetch_ws(struct gm_prefetch *p, uint64_t *entries)
{
	struct gm_uffd_sess *s = p->s;
	const struct gm_snap_layer *l = &s->snap.layers[0];
	uint64_t chunk = s->snap.chunk_size, max = p->buf_len / chunk, i = 0;
	int err = 0;

	while (i < l->hdr.nr_ws && !err) {
		uint64_t c0 = l->ws[i].offset / chunk, k = 1, slot = i, off, end;

		for (i++; i < l->hdr.nr_ws && k < max && l->ws[i].offset / chunk == c0 + k; i++)
			k++;
		off = c0 * chunk;
		end = off + k * chunk < s->snap.mem_size ? off + k * chunk : s->snap.mem_size;
		p->run_in_section = !(off % s->unit) && (!(end % s->unit) || end == s->snap.mem_size);
		err = gm_prefetch_run(p, off / s->unit, (end + s->unit - 1) / s->unit - off / s->unit,
				      slot);
		*entries = i;
	}
	return err;
}

/* Ask mode, after the working set: every other unit, so the file ends
 * up whole; from the image. */
static int gm_prefetch_rest(struct gm_prefetch *p)
{
	uint64_t max = p->buf_len / p->s->unit;
	int err = 0;

	p->section = false;
	for (uint64_t u = 0; u < p->s->nunits && !err; u += max)
		err = gm_prefetch_run(p, u, p->s->nunits - u < max ? p->s->nunits - u : max, 0);
	return err;
}

static void gm_prefetch_all(struct gm_prefetch *p)
{
	struct gm_uffd_sess *s = p->s;
	const struct gm_snap_layer *l = &s->snap.layers[0];
	uint64_t t0 = gm_mono_ns(), n = 0;
	bool section = p->section;
	int err;

	if (section)
		posix_fadvise(l->idx_fd, (off_t)l->hdr.ws_data_offset,
			      (off_t)(l->hdr.nr_ws * s->unit), POSIX_FADV_WILLNEED);
	err = gm_prefetch_ws(p, &n);
	if (!err && s->ask)
		err = gm_prefetch_rest(p);
	if (err && err != -ECANCELED && err != -ESRCH)
		gm_warn("%s: prefetching stopped: %s", s->name, strerror(-err));
	gm_info("%s: prefetcher done after %llu of %llu working-set entries, %llu bytes placed "
		"in %llu ms from the %s: read %llu ms, crc %llu ms, placing %llu ms in %llu runs, "
		"%llu units alone", s->name, (unsigned long long)n,
		(unsigned long long)l->hdr.nr_ws, (unsigned long long)atomic_load(&s->prefetched),
		(unsigned long long)(gm_mono_ns() - t0) / 1000000,
		section ? "index's working-set bytes" : "image",
		(unsigned long long)p->read_ns / 1000000, (unsigned long long)p->crc_ns / 1000000,
		(unsigned long long)p->place_ns / 1000000, (unsigned long long)p->runs,
		(unsigned long long)p->unit_fallbacks);
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
	};
	void *buf = NULL;

	if (gm_snap_reader_init(&p.rd, &s->snap)) {
		gm_warn("%s: no memory to prefetch", s->name);
		return NULL;
	}
	if (posix_memalign(&buf, 4096, p.buf_len) == 0) {
		p.buf = buf;
		gm_prefetch_all(&p);
	} else {
		gm_warn("%s: no memory to prefetch", s->name);
	}
	free(buf);
	gm_snap_reader_fini(&p.rd);
	if (s->ask)
		gm_ask_kick(s->ask);	/* the fault thread sees it is complete */
	return NULL;
}
