/*
 * Recording a working set without faults (see record.h).  The VMM's
 * userfaultfd is registered UFFDIO_REGISTER_MODE_RWP with
 * UFFD_FEATURE_RWP_ASYNC: UFFDIO_RWPROTECT takes the mapping's pages away
 * from the VMM and, through the MMU notifier, from KVM's secondary MMU, so
 * the guest's next access to a page goes through the host's fault path,
 * which the kernel resolves by itself (no message to anyone) and which
 * leaves the page PAGE_IS_ACCESSED in PAGEMAP_SCAN.  The alternative, the
 * young bits cleared through /proc/PID/clear_refs, reports nothing for a
 * KVM guest: tests/integration/gm-ws-probe.c measured both.
 *
 * A round is protect, wait, scan; the pages touched between a scan and the
 * next protect are missed for that round only, and a page is recorded once,
 * the first round it shows.  Pages are kept as file offsets; the chunk size
 * is the snapshot's business, known only when one is written.
 *
 * Locking: record_lock guards the list and every field of its entries but
 * the fds and the region, which are immutable while the entry is listed;
 * an entry being recorded (running) is neither replaced nor freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "core/log.h"
#include "uffd/record.h"
#include "ws_compat.h"

#define REC_PAGE	4096ULL
#define REC_REGIONS	256

struct gm_record {
	struct gm_record *next;
	struct gm_fs *fs;
	uint64_t ino;
	uid_t uid;			/* the arming VMM's */
	int uffd, pagemap_fd;
	struct gm_record_region reg;
	uint8_t *seen;			/* one byte per page of reg */
	uint64_t *order;		/* file offsets, first seen first */
	size_t norder, cap;
	bool running;
};

static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gm_record *records;

static void record_free(struct gm_record *rec)
{
	if (rec->uffd >= 0)
		close(rec->uffd);
	if (rec->pagemap_fd >= 0)
		close(rec->pagemap_fd);
	free(rec->seen);
	free(rec->order);
	free(rec);
}

/* The entry for (fs, ino) and the link that points at it; under record_lock. */
static struct gm_record **record_find(struct gm_fs *fs, uint64_t ino)
{
	struct gm_record **p;

	for (p = &records; *p; p = &(*p)->next)
		if ((*p)->fs == fs && (*p)->ino == ino)
			return p;
	return NULL;
}

static int rec_protect(const struct gm_record *rec, bool on)
{
	struct uffdio_rwprotect rw = {
		.range = { rec->reg.addr, rec->reg.size },
		.mode = on ? UFFDIO_RWPROTECT_MODE_RWP : 0,
	};

	return ioctl(rec->uffd, UFFDIO_RWPROTECT, &rw) < 0 ? -errno : 0;
}

/* One PAGEMAP_SCAN call for accessed pages from start; the regions found. */
static int rec_scan_once(const struct gm_record *rec, uint64_t start, struct page_region *v,
			 uint64_t *walk_end)
{
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .start = start, .end = rec->reg.addr + rec->reg.size,
		.vec = (uintptr_t)v, .vec_len = REC_REGIONS,
		.category_mask = PAGE_IS_ACCESSED, .return_mask = PAGE_IS_ACCESSED,
	};
	int n = ioctl(rec->pagemap_fd, PAGEMAP_SCAN, &arg);

	*walk_end = arg.walk_end;
	return n < 0 ? -errno : n;
}

/* Both features, asked of the kernel on the armed range: what it lacks. */
static const char *rec_missing(const struct gm_record *rec)
{
	struct page_region v[REC_REGIONS];
	uint64_t end;

	if (rec_protect(rec, false))
		return "UFFDIO_RWPROTECT (userfaultfd RWP, Linux 7.2)";
	if (rec_scan_once(rec, rec->reg.addr, v, &end) < 0)
		return "PAGEMAP_SCAN's PAGE_IS_ACCESSED (Linux 7.2)";
	return NULL;
}

static int rec_new(struct gm_fs *fs, uint64_t ino, uid_t uid, pid_t pid, int uffd,
		   const struct gm_record_region *reg, struct gm_record **out)
{
	struct gm_record *rec = calloc(1, sizeof(*rec));
	char path[64];

	if (!rec) {
		close(uffd);
		return -ENOMEM;
	}
	*rec = (struct gm_record){ .fs = fs, .ino = ino, .uid = uid, .uffd = uffd,
				   .pagemap_fd = -1, .reg = *reg };
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	/* the open fd keeps the VMM's mm, whatever becomes of the pid */
	rec->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	rec->seen = calloc(reg->size / REC_PAGE, 1);
	if (rec->pagemap_fd < 0 || !rec->seen) {
		int err = rec->pagemap_fd < 0 ? -errno : -ENOMEM;

		record_free(rec);
		return err;
	}
	*out = rec;
	return 0;
}

int gm_record_arm(struct gm_fs *fs, uint64_t ino, uid_t uid, pid_t pid, int uffd,
		  const struct gm_record_region *reg, char *why, size_t whylen)
{
	struct gm_record *rec = NULL, **p;
	const char *missing;
	int err;

	if (!reg->size || reg->size % REC_PAGE || reg->addr % REC_PAGE || reg->offset % REC_PAGE) {
		close(uffd);
		snprintf(why, whylen, "the region is not whole pages");
		return -EINVAL;
	}
	err = rec_new(fs, ino, uid, pid, uffd, reg, &rec);
	if (err) {
		snprintf(why, whylen, "keeping the VMM's pagemap: %s", strerror(-err));
		return err;
	}
	missing = rec_missing(rec);
	if (missing) {
		snprintf(why, whylen, "the kernel lacks %s", missing);
		record_free(rec);
		return -EOPNOTSUPP;
	}
	pthread_mutex_lock(&record_lock);
	p = record_find(fs, ino);
	err = !p ? 0 : (*p)->running ? -EBUSY : uid && uid != (*p)->uid ? -EACCES : 0;
	if (err) {
		pthread_mutex_unlock(&record_lock);
		record_free(rec);
		snprintf(why, whylen, "%s", err == -EBUSY ? "a recording of the file is running" :
			 "another user's VMM armed it");
		return err;
	}
	if (p) {
		struct gm_record *old = *p;

		*p = old->next;
		record_free(old);
	}
	rec->next = records;
	records = rec;
	pthread_mutex_unlock(&record_lock);
	return 0;
}

/* Note the pages of v not seen before, in address order; under record_lock. */
static int rec_note(struct gm_record *rec, const struct page_region *v, int n)
{
	for (int i = 0; i < n; i++) {
		for (uint64_t a = v[i].start; a < v[i].end; a += REC_PAGE) {
			uint64_t idx = (a - rec->reg.addr) / REC_PAGE;
			uint64_t *grown;

			if (rec->seen[idx])
				continue;
			if (rec->norder == rec->cap) {
				size_t cap = rec->cap ? 2 * rec->cap : 1024;

				grown = realloc(rec->order, cap * sizeof(*grown));
				if (!grown)
					return -ENOMEM;
				rec->order = grown;
				rec->cap = cap;
			}
			rec->order[rec->norder++] = rec->reg.offset + idx * REC_PAGE;
			rec->seen[idx] = 1;
		}
	}
	return 0;
}

static int rec_scan(struct gm_record *rec)
{
	struct page_region v[REC_REGIONS];
	uint64_t start = rec->reg.addr, end = rec->reg.addr + rec->reg.size, walk_end;
	int n, err = 0;

	while (!err && start < end) {
		n = rec_scan_once(rec, start, v, &walk_end);
		if (n < 0)
			return n;
		pthread_mutex_lock(&record_lock);
		err = rec_note(rec, v, n);
		pthread_mutex_unlock(&record_lock);
		if (walk_end <= start)
			break;
		start = walk_end;
	}
	return err;
}

/* Sleep ms, or less if the requester's connection hangs up (it went away,
 * or the daemon stops and shut it down): true then. */
static bool rec_nap(int conn_fd, uint64_t ms)
{
	struct pollfd p = { .fd = conn_fd, .events = POLLRDHUP };

	if (conn_fd < 0) {
		nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000 }, NULL);
		return false;
	}
	return poll(&p, 1, (int)ms) > 0;
}

static int rec_rounds(struct gm_record *rec, int conn_fd, uint32_t interval_ms,
		      uint32_t duration_ms, char *why, size_t whylen)
{
	uint64_t end = gm_mono_ns() + duration_ms * 1000000ULL, now;
	int err;

	do {
		err = rec_protect(rec, true);
		if (err) {
			snprintf(why, whylen, "UFFDIO_RWPROTECT: %s", strerror(-err));
			return err;
		}
		now = gm_mono_ns();
		uint64_t nap = now < end ? (end - now) / 1000000 : 0;

		nap = nap < interval_ms ? nap : interval_ms;
		if (rec_nap(conn_fd, nap)) {
			rec_protect(rec, false);
			snprintf(why, whylen, "the requester hung up, or the daemon stops");
			return -ECANCELED;
		}
		err = rec_scan(rec);
		if (err) {
			snprintf(why, whylen, "PAGEMAP_SCAN: %s", strerror(-err));
			return err;
		}
	} while (gm_mono_ns() < end);
	/* leave the VMM's memory as the arm found it */
	rec_protect(rec, false);
	return 0;
}

/* Whether this kernel could record at all, asked of our own pagemap: the
 * answer to a record request for a file nobody armed, where the VMM's arm
 * never reached us because its UFFDIO_API failed. */
static bool rec_kernel_lacks(void)
{
	struct page_region v[1];
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .start = (uintptr_t)v & ~(REC_PAGE - 1),
		.end = ((uintptr_t)v & ~(REC_PAGE - 1)) + REC_PAGE,
		.vec = (uintptr_t)v, .vec_len = 1,
		.category_mask = PAGE_IS_ACCESSED, .return_mask = PAGE_IS_ACCESSED,
	};
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool lacks;

	if (fd < 0)
		return false;
	lacks = ioctl(fd, PAGEMAP_SCAN, &arg) < 0 && (errno == EINVAL || errno == ENOTTY);
	close(fd);
	return lacks;
}

int gm_record_run(struct gm_fs *fs, uint64_t ino, uid_t uid, int conn_fd, uint32_t interval_ms,
		  uint32_t duration_ms, uint64_t *units, char *why, size_t whylen)
{
	struct gm_record **p, *rec;
	int err;

	pthread_mutex_lock(&record_lock);
	p = record_find(fs, ino);
	rec = p ? *p : NULL;
	err = !rec && rec_kernel_lacks() ? -EOPNOTSUPP : !rec ? -ENOENT : rec->running ? -EBUSY : uid && uid != rec->uid ? -EACCES : 0;
	if (!err) {
		rec->running = true;
		rec->norder = 0;
		memset(rec->seen, 0, rec->reg.size / REC_PAGE);
	}
	pthread_mutex_unlock(&record_lock);
	if (err) {
		snprintf(why, whylen, "%s", err == -EOPNOTSUPP ?
			 "the kernel lacks PAGEMAP_SCAN's PAGE_IS_ACCESSED (Linux 7.2)" :
			 err == -ENOENT ? "no VMM armed a recording of the file" :
			 err == -EBUSY ? "a recording of the file is running" :
			 "only root or the VMM's user may record it");
		return err;
	}
	err = rec_rounds(rec, conn_fd, interval_ms ? interval_ms : 1, duration_ms, why, whylen);
	pthread_mutex_lock(&record_lock);
	rec->running = false;
	*units = rec->norder;
	pthread_mutex_unlock(&record_lock);
	return err;
}

/* The recorded pages as chunk offsets of a snapshot, each once, in order. */
static int rec_chunks(const struct gm_record *rec, const struct gm_snap *s, uint64_t **out,
		      size_t *n)
{
	uint64_t nchunks = (s->mem_size + s->chunk_size - 1) / s->chunk_size;
	uint8_t *taken = calloc(nchunks ? nchunks : 1, 1);
	uint64_t *c = malloc((rec->norder ? rec->norder : 1) * sizeof(*c));

	*n = 0;
	if (!taken || !c) {
		free(taken);
		free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rec->norder; i++) {
		uint64_t k = rec->order[i] / s->chunk_size;

		if (k < nchunks && !taken[k]) {
			taken[k] = 1;
			c[(*n)++] = k * s->chunk_size;
		}
	}
	free(taken);
	*out = c;
	return 0;
}

int gm_record_store(struct gm_fs *fs, uint64_t ino, const int *fds, unsigned nfds, size_t *n,
		    char why[GM_SNAP_WHY_MAX])
{
	struct gm_snap s;
	struct gm_record **p;
	uint64_t *chunks = NULL;
	int err;

	*n = 0;
	err = gm_snap_open(&s, fds, nfds, why);
	if (err)
		return err;
	pthread_mutex_lock(&record_lock);
	p = record_find(fs, ino);
	err = p && (*p)->norder ? rec_chunks(*p, &s, &chunks, n) : 0;
	pthread_mutex_unlock(&record_lock);
	if (err)
		gm_snap_why(why, "out of memory for the recorded working set");
	else if (*n)
		err = gm_snap_store_ws(&s, chunks, *n, why);
	free(chunks);
	gm_snap_close(&s);
	return err;
}

void gm_record_forget_fs(struct gm_fs *fs)
{
	struct gm_record **p = &records, *rec;

	pthread_mutex_lock(&record_lock);
	while (*p) {
		rec = *p;
		if (rec->fs == fs && !rec->running) {
			*p = rec->next;
			record_free(rec);
		} else {
			p = &rec->next;
		}
	}
	pthread_mutex_unlock(&record_lock);
}
