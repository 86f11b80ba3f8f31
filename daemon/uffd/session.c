/*
 * Lazy-restore sessions (see session.h): making one from a request's
 * parts and checking its regions against the snapshot, the registry, the
 * figures SESSIONS reports, and the end of every session at unmount.
 *
 * Not for: serving faults (serve.c), placing memory (place.c),
 * prefetching (prefetch.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gmemfs_ctl.h"
#include "core/log.h"
#include "core/thread.h"
#include "meta/private.h"
#include "uffd/lazyrec.h"
#include "uffd/session.h"

#define WHY(...) snprintf(why, GM_CHAN_WHY_MAX, __VA_ARGS__)

/* Every session of the daemon's one mount: process-wide. */
static struct {
	pthread_mutex_t lock;
	struct cds_list_head list;	/* struct gm_uffd_sess; under lock */
	uint64_t next_id;		/* under lock */
	unsigned nsess;			/* on the list; under lock */
} gm_uffd_reg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.list = CDS_LIST_HEAD_INIT(gm_uffd_reg.list),
	.next_id = 1,
};

static bool gm_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static int gm_uffd_check_region(const struct gm_uffd_region *r, unsigned i, uint64_t mem_size,
				char why[GM_CHAN_WHY_MAX])
{
	uint64_t ps = r->page_size;

	if (!gm_pow2(ps) || ps < 4096 || ps > (1ULL << 30)) {
		WHY("region %u: page size %llu is not 4 KiB, 2 MiB or 1 GiB-like", i,
		    (unsigned long long)ps);
		return -EINVAL;
	}
	if (!r->size || r->addr % ps || r->size % ps || r->offset % ps) {
		WHY("region %u: address %#llx, size %llu, offset %llu: not whole pages of %llu",
		    i, (unsigned long long)r->addr, (unsigned long long)r->size,
		    (unsigned long long)r->offset, (unsigned long long)ps);
		return -EINVAL;
	}
	if (r->offset > mem_size || r->size > mem_size - r->offset ||
	    r->addr + r->size < r->addr) {
		WHY("region %u: offset %llu + size %llu is beyond the snapshot's %llu bytes", i,
		    (unsigned long long)r->offset, (unsigned long long)r->size,
		    (unsigned long long)mem_size);
		return -ERANGE;
	}
	return 0;
}

static bool gm_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Whole pages inside the snapshot, no two overlapping in the VMM's address
 * space or in the snapshot; sets the unit. */
static int gm_uffd_check_regions(struct gm_uffd_sess *s, char why[GM_CHAN_WHY_MAX])
{
	uint64_t unit = s->snap.chunk_size;
	int err;

	if (!s->nregions || s->nregions > GM_UFFD_MAX_REGIONS) {
		WHY("%u regions: 1 to %d are served", s->nregions, GM_UFFD_MAX_REGIONS);
		return -EINVAL;
	}
	for (unsigned i = 0; i < s->nregions; i++) {
		const struct gm_uffd_region *r = &s->regions[i];

		err = gm_uffd_check_region(r, i, s->snap.mem_size, why);
		if (err)
			return err;
		for (unsigned j = 0; j < i; j++) {
			const struct gm_uffd_region *o = &s->regions[j];

			if (gm_overlap(r->addr, r->size, o->addr, o->size) ||
			    gm_overlap(r->offset, r->size, o->offset, o->size)) {
				WHY("regions %u and %u overlap", j, i);
				return -EINVAL;
			}
		}
		if (r->page_size > unit)
			unit = r->page_size;
	}
	for (unsigned i = 0; i < s->nregions; i++) {
		if (s->regions[i].offset % unit) {
			WHY("region %u: offset %llu is not a multiple of its %llu-byte pages' unit",
			    i, (unsigned long long)s->regions[i].offset, (unsigned long long)unit);
			return -EINVAL;
		}
	}
	s->unit = unit;
	s->nunits = (s->snap.mem_size + unit - 1) / unit;
	for (uint64_t u = 0; u < s->nunits; u++) {
		for (unsigned i = 0; i < s->nregions; i++) {
			if (gm_overlap(u * unit, unit, s->regions[i].offset, s->regions[i].size)) {
				s->units_covered++;
				break;
			}
		}
	}
	return 0;
}

static int gm_uffd_sess_alloc(struct gm_uffd_sess *s)
{
	s->units = calloc(s->nunits, 1);
	s->seen = calloc(s->nunits, 1);
	s->lat = calloc(GM_UFFD_LAT_SAMPLES, sizeof(*s->lat));
	/* Read-only zero pages the size of a unit, backed by nothing. */
	s->zero = mmap(NULL, s->unit, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (s->zero == MAP_FAILED)
		s->zero = NULL;
	return s->units && s->seen && s->lat && s->zero ? 0 : -ENOMEM;
}

static void gm_uffd_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Everything the fault thread lets go of when the session ends. */
void gm_uffd_sess_release(struct gm_uffd_sess *s)
{
	gm_busy_del(s);
	if (s->snap_open)
		gm_snap_close(&s->snap);
	s->snap_open = false;
	gm_uffd_close_fd(&s->uffd);
	gm_uffd_close_fd(&s->pidfd);
	gm_uffd_close_fd(&s->backing_fd);
	gm_lazyrec_close(s, s->map && !s->keep_record);
	for (unsigned i = 0; i < s->nsnap_fds; i++)
		gm_uffd_close_fd(&s->snap_fds[i]);
	s->nsnap_fds = 0;
	/* Under the registry lock: gm_uffd_reap(true) writes to it there. */
	pthread_mutex_lock(&gm_uffd_reg.lock);
	gm_uffd_close_fd(&s->stop_fd);
	pthread_mutex_unlock(&gm_uffd_reg.lock);
}

void gm_uffd_sess_free(struct gm_uffd_sess *s)
{
	if (!s)
		return;
	gm_uffd_sess_release(s);
	if (s->zero)
		munmap(s->zero, s->unit);
	free((void *)s->units);
	free(s->seen);
	free(s->lat);
	free(s->ws);
	free(s->removed);
	gm_ask_free(s->ask);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int gm_uffd_sess_init(struct gm_uffd_sess *s, struct gm_uffd_sess_args *a)
{
	s->uffd = a->uffd;
	s->pidfd = a->pidfd;
	s->backing_fd = a->backing_fd;
	s->stop_fd = -1;
	for (unsigned i = 0; i < a->nsnap_fds; i++) {
		s->snap_fds[i] = a->snap_fds[i];
		a->snap_fds[i] = -1;
	}
	s->nsnap_fds = a->nsnap_fds;
	a->uffd = a->pidfd = a->backing_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->pid = a->pid;
	s->uid = a->uid;
	s->flags = a->flags;
	s->kind = a->kind;
	s->file_ino = a->ask_ino ? a->ask_ino : a->file_ino;
	s->id = a->resume_id;
	s->resumed = a->resume_id != 0;
	if (a->pid && gm_lazyrec_pid_start(a->pid, &s->pid_start))
		s->pid_start = 0;
	atomic_init(&s->state, GMEMFS_SESS_SERVING);
	if (a->nregions > GM_UFFD_MAX_REGIONS)
		return -EINVAL;
	memcpy(s->regions, a->regions, a->nregions * sizeof(*a->regions));
	s->nregions = a->nregions;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	return s->stop_fd < 0 ? -errno : 0;
}

/* A session that was never made closes the fds it was given (-1 after). */
static void gm_uffd_args_close(struct gm_uffd_sess_args *a)
{
	if (a->uffd >= 0)
		close(a->uffd);
	if (a->pidfd >= 0)
		close(a->pidfd);
	if (a->backing_fd >= 0)
		close(a->backing_fd);
	a->uffd = a->pidfd = a->backing_fd = -1;
	for (unsigned i = 0; i < a->nsnap_fds; i++) {
		if (a->snap_fds[i] >= 0)
			close(a->snap_fds[i]);
		a->snap_fds[i] = -1;
	}
}

int gm_uffd_sess_new(struct gm_uffd_sess_args *a, struct gm_uffd_sess **out,
		     char why[GM_CHAN_WHY_MAX])
{
	struct gm_uffd_sess *s = calloc(1, sizeof(*s));
	char swhy[GM_SNAP_WHY_MAX];
	int err = -ENOMEM;

	if (!s) {
		WHY("no memory for a session");
		goto err_close;
	}
	err = gm_uffd_sess_init(s, a);
	if (err) {
		WHY("%u regions: at most %d are served", a->nregions, GM_UFFD_MAX_REGIONS);
		goto err_free;
	}
	err = gm_snap_open(&s->snap, s->snap_fds, s->nsnap_fds, swhy);
	if (err) {
		WHY("%s", swhy);
		goto err_free;
	}
	s->snap_open = true;
	if (a->ask_ino) {
		/* Ask mode: one region, the file's offsets, in 4 KiB pages. */
		s->regions[0] = (struct gm_uffd_region){
			.size = (s->snap.mem_size + 4095) & ~4095ULL, .page_size = 4096,
		};
		s->nregions = 1;
	}
	err = gm_uffd_check_regions(s, why);
	if (err)
		goto err_free;
	if (s->backing_fd >= 0 && a->backing_size != s->snap.mem_size) {
		WHY("the file has %llu bytes, the snapshot %llu",
		    (unsigned long long)a->backing_size, (unsigned long long)s->snap.mem_size);
		err = -EINVAL;
		goto err_free;
	}
	if (a->ask_ino) {
		err = gm_ask_new(a->ask_ino, &s->ask, why);
		if (err)
			goto err_free;
	}
	err = gm_uffd_sess_alloc(s);
	if (err) {
		WHY("no memory for %llu units' state", (unsigned long long)s->nunits);
		goto err_free;
	}
	*out = s;
	return 0;
err_free:
	gm_uffd_sess_free(s);
	return err;
err_close:
	gm_uffd_args_close(a);
	return err;
}

/* Join and free the sessions whose fault thread has finished (all of
 * them when stopping, after asking them to end). */
static void gm_uffd_reap(bool all)
{
	struct gm_uffd_sess *s, *tmp;
	CDS_LIST_HEAD(dead);
	uint64_t one = 1;

	pthread_mutex_lock(&gm_uffd_reg.lock);
	cds_list_for_each_entry_safe(s, tmp, &gm_uffd_reg.list, node) {
		if (!all && !atomic_load(&s->done))
			continue;
		if (all && s->stop_fd >= 0) {
			atomic_store(&s->ending, true);
			if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
				gm_warn("%s: cannot wake its thread: %s", s->name, strerror(errno));
		}
		cds_list_del(&s->node);
		cds_list_add(&s->node, &dead);
		gm_uffd_reg.nsess--;
	}
	pthread_mutex_unlock(&gm_uffd_reg.lock);
	cds_list_for_each_entry_safe(s, tmp, &dead, node) {
		pthread_join(s->fault_thread, NULL);
		gm_uffd_sess_free(s);
	}
}

/* The session's name, for logs; its id is set. */
static void gm_uffd_sess_name(struct gm_uffd_sess *s)
{
	if (s->ask)
		snprintf(s->name, sizeof(s->name), "lazy session %llu (file %llu)",
			 (unsigned long long)s->id, (unsigned long long)s->ask->ino);
	else
		snprintf(s->name, sizeof(s->name), "lazy session %llu (pid %d)",
			 (unsigned long long)s->id, (int)s->pid);
}

/* A resumed session keeps its id, if no live session has it. */
static int gm_uffd_sess_take_id(struct gm_uffd_sess *s, char why[GM_CHAN_WHY_MAX])
{
	struct gm_uffd_sess *o;

	if (!s->resumed) {
		s->id = gm_uffd_reg.next_id++;
		return 0;
	}
	cds_list_for_each_entry(o, &gm_uffd_reg.list, node) {
		if (o->id == s->id && !atomic_load(&o->done)) {
			WHY("session %llu is being served already", (unsigned long long)s->id);
			return -EBUSY;
		}
	}
	if (s->id >= gm_uffd_reg.next_id)
		gm_uffd_reg.next_id = s->id + 1;
	return 0;
}

/* The record a restarted daemon resumes the session from (lazyrec.h);
 * without one the session still runs, and the log says it is not
 * protected. */
static void gm_uffd_sess_record(struct gm_uffd_sess *s)
{
	int err = s->resumed ? gm_lazyrec_attach(s) : gm_lazyrec_create(s);

	if (err)
		gm_warn("%s: no record in the state directory (%s): a kill -9 of the daemon "
			"would end it for good", s->name, strerror(-err));
	if (err && s->resumed)
		gm_lazyrec_drop(s->id);
}

/* Register s and start its fault thread; -errno with why. */
static int gm_uffd_sess_launch(struct gm_uffd_sess *s, char why[GM_CHAN_WHY_MAX])
{
	int err = -EAGAIN;

	pthread_mutex_lock(&gm_uffd_reg.lock);
	if (gm_uffd_reg.nsess >= GM_UFFD_MAX_SESSIONS) {
		WHY("%d lazy-restore sessions run already", GM_UFFD_MAX_SESSIONS);
		goto out;
	}
	err = gm_uffd_sess_take_id(s, why);
	if (err)
		goto out;
	gm_uffd_sess_name(s);
	gm_uffd_sess_record(s);
	if (s->resumed && s->map) {
		gm_lazyrec_apply(s);
		gm_info("%s: %llu of %llu units were in before the restart", s->name,
			(unsigned long long)atomic_load(&s->units_done),
			(unsigned long long)s->units_covered);
	}
	err = gm_thread_start(&s->fault_thread, s->ask ? gm_ask_main : gm_uffd_fault_main, s);
	if (err) {
		WHY("cannot start the fault thread: %s", strerror(-err));
		s->keep_record = s->resumed;
		goto out;
	}
	cds_list_add_tail(&s->node, &gm_uffd_reg.list);
	gm_uffd_reg.nsess++;
out:
	pthread_mutex_unlock(&gm_uffd_reg.lock);
	return err;
}

int gm_uffd_sess_start(struct gm_uffd_sess *s, uint64_t *id, char why[GM_CHAN_WHY_MAX])
{
	int err;

	gm_uffd_reap(false);
	/* No conversion to private under the restore (meta/private.h). */
	err = s->ask ? gm_busy_add(s->ask->ino, 0, UINT64_MAX, "a lazy restore", s) : 0;
	if (err)
		WHY("no memory to mark the file busy");
	/* Ask mode is on before the reply: no miss in the file escapes us. */
	if (!err && s->ask)
		err = gm_ask_begin(s, why);
	if (!err)
		err = gm_uffd_sess_launch(s, why);
	if (err) {
		if (s->ask)
			gm_ask_abort(s->ask);
		gm_uffd_sess_free(s);
		return err;
	}
	gm_info("%s: %s %llu bytes in %u region(s) from a %u-layer snapshot, unit %llu, "
		"%s mode%s", s->name, s->resumed ? "resumed, serving" : "serving", (unsigned long long)s->snap.mem_size, s->nregions,
		s->snap.nlayers, (unsigned long long)s->unit,
		s->ask ? "shim ask" : s->backing_fd >= 0 ? "shmem MINOR" : "MISSING",
		s->flags & GMEMFS_CTL_F_RECORD_WS ? ", recording the working set" : "");
	*id = s->id;
	return 0;
}

static int gm_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* p50 and p99 of the latencies sampled so far. */
static void gm_uffd_latency(struct gm_uffd_sess *s, struct gm_uffd_figures *f)
{
	uint32_t *copy;
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->nlat;
	copy = n ? malloc(n * sizeof(*copy)) : NULL;
	if (copy)
		memcpy(copy, s->lat, n * sizeof(*copy));
	pthread_mutex_unlock(&s->lock);
	if (!copy)
		return;
	qsort(copy, n, sizeof(*copy), gm_cmp_u32);
	f->lat_p50_ns = copy[n / 2];
	f->lat_p99_ns = copy[(uint64_t)n * 99 / 100];
	free(copy);
}

void gm_uffd_sess_figures(struct gm_uffd_sess *s, struct gm_uffd_figures *f)
{
	memset(f, 0, sizeof(*f));
	f->id = s->id;
	f->pid = s->pid;
	f->uid = s->uid;
	f->unit = s->unit;
	f->state = atomic_load(&s->state);
	f->faults = atomic_load(&s->faults);
	f->bytes = atomic_load(&s->bytes);
	f->prefetched = atomic_load(&s->prefetched);
	f->minor = atomic_load(&s->minor);
	f->corrupt = atomic_load(&s->corrupt);
	f->removed = atomic_load(&s->removed_bytes);
	f->ws = atomic_load(&s->ws_count);
	gm_uffd_latency(s, f);
}

int gm_uffd_sessions_each(uid_t uid, int (*fn)(void *ctx, const struct gm_uffd_figures *f),
			  void *ctx)
{
	struct gm_uffd_figures *figs = NULL;
	struct gm_uffd_sess *s;
	unsigned n = 0, cap = 0;
	int err = 0;

	gm_uffd_reap(false);
	/* Figures are copied under the lock and sent after it, so a slow
	 * reader never holds up a session's start or end. */
	pthread_mutex_lock(&gm_uffd_reg.lock);
	cds_list_for_each_entry(s, &gm_uffd_reg.list, node) {
		if (atomic_load(&s->done) || (uid && s->uid != uid))
			continue;
		if (n == cap) {
			struct gm_uffd_figures *more = realloc(figs, (cap + 16) * sizeof(*figs));

			if (!more) {
				err = -ENOMEM;
				break;
			}
			figs = more;
			cap += 16;
		}
		gm_uffd_sess_figures(s, &figs[n++]);
	}
	pthread_mutex_unlock(&gm_uffd_reg.lock);
	for (unsigned i = 0; i < n && !err; i++)
		err = fn(ctx, &figs[i]);
	free(figs);
	return err;
}

void gm_uffd_sessions_reserve(uint64_t max_id)
{
	pthread_mutex_lock(&gm_uffd_reg.lock);
	if (max_id >= gm_uffd_reg.next_id)
		gm_uffd_reg.next_id = max_id + 1;
	pthread_mutex_unlock(&gm_uffd_reg.lock);
}

void gm_uffd_sessions_stop_all(void)
{
	gm_uffd_reap(true);
}

const struct gm_uffd_region *gm_uffd_region_of(const struct gm_uffd_sess *s, uint64_t addr)
{
	for (unsigned i = 0; i < s->nregions; i++) {
		if (addr >= s->regions[i].addr && addr - s->regions[i].addr < s->regions[i].size)
			return &s->regions[i];
	}
	return NULL;
}
