/*
 * Placing snapshot memory into a VMM's registered mappings: one unit read
 * from the snapshot (every checksum verified), then UFFDIO_COPY of its
 * bytes or UFFDIO_ZEROPAGE of its holes into each region that maps it, or,
 * for the prefetcher in shmem MINOR mode, a pwrite into the file's backing
 * (the page cache) which the VMM's faults then map with UFFDIO_CONTINUE.
 * Also the ranges the VMM discarded (UFFD_EVENT_REMOVE/UNMAP), which stay
 * zero whatever the snapshot holds.
 *
 * Shared by the fault and the prefetch thread; the caller owns the unit
 * (claimed through uffd/unit.c, or the fault thread serving one page of
 * it).  Also poisoning what a corrupt unit cannot place.
 *
 * Not for: which unit to place when (serve.c, prefetch.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "gmemfs_ctl.h"
#include "core/log.h"
#include "uffd_compat.h"
#include "uffd/lazyrec.h"
#include "uffd/session.h"

static uint64_t gm_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Merge [off, off + len) into the sorted list; under s->lock. */
static void gm_uffd_add_removed_locked(struct gm_uffd_sess *s, uint64_t off, uint64_t len)
{
	struct gm_uffd_range *r = s->removed;
	unsigned i = 0, j;

	while (i < s->nremoved && r[i].off + r[i].len < off)
		i++;
	/* Ranges i..j-1 touch the new one: they fold into it. */
	for (j = i; j < s->nremoved && r[j].off <= off + len; j++) {
		uint64_t end = r[j].off + r[j].len > off + len ? r[j].off + r[j].len : off + len;

		off = r[j].off < off ? r[j].off : off;
		len = end - off;
	}
	if (j == i) {
		if (s->nremoved == s->removed_cap) {
			unsigned cap = s->removed_cap ? 2 * s->removed_cap : 64;
			struct gm_uffd_range *more;

			more = cap <= GM_UFFD_MAX_REMOVED ? realloc(r, cap * sizeof(*r)) : NULL;
			if (!more) {
				gm_err("%s: cannot remember more discarded ranges: pages of %#llx+%llu "
				       "may come back with snapshot data", s->name,
				       (unsigned long long)off, (unsigned long long)len);
				return;
			}
			s->removed = r = more;
			s->removed_cap = cap;
		}
		memmove(&r[i + 1], &r[i], (s->nremoved - i) * sizeof(*r));
		s->nremoved++;
	} else if (j > i + 1) {
		memmove(&r[i + 1], &r[j], (s->nremoved - j) * sizeof(*r));
		s->nremoved -= j - i - 1;
	}
	r[i].off = off;
	r[i].len = len;
}

/* A discarded snapshot range: whole units become REMOVED, the rest is
 * remembered page by page. */
static void gm_uffd_remove_range(struct gm_uffd_sess *s, uint64_t off, uint64_t len)
{
	uint64_t u0 = (off + s->unit - 1) / s->unit, u1 = (off + len) / s->unit;

	if (off + len == s->snap.mem_size)
		u1 = s->nunits;
	for (uint64_t u = u0; u < u1; u++)
		gm_uffd_unit_discard(s, u);
	pthread_mutex_lock(&s->lock);
	gm_uffd_add_removed_locked(s, off, len);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&s->removed_bytes, len);
	gm_lazyrec_discarded(s, off, len);
}

void gm_uffd_note_removed_off(struct gm_uffd_sess *s, uint64_t off, uint64_t len)
{
	gm_uffd_remove_range(s, off, len);
}

void gm_uffd_note_removed(struct gm_uffd_sess *s, uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < s->nregions; i++) {
		const struct gm_uffd_region *r = &s->regions[i];
		uint64_t a = addr > r->addr ? addr : r->addr;
		uint64_t e = gm_min(addr + len, r->addr + r->size);

		if (a < e)
			gm_uffd_remove_range(s, r->offset + (a - r->addr), e - a);
	}
}

bool gm_uffd_is_removed(struct gm_uffd_sess *s, uint64_t off, uint64_t len)
{
	bool in = false;

	if (gm_uffd_unit_state(s, off / s->unit) == GM_UNIT_REMOVED)
		return true;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nremoved && !in; i++)
		in = s->removed[i].off <= off && off + len <= s->removed[i].off + s->removed[i].len;
	pthread_mutex_unlock(&s->lock);
	return in;
}

/* Zero what the VMM discarded in buf, which holds the snapshot from off. */
static void gm_uffd_blank_removed(struct gm_uffd_sess *s, uint64_t off, uint64_t len,
				  uint8_t *buf)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nremoved; i++) {
		uint64_t a = s->removed[i].off > off ? s->removed[i].off : off;
		uint64_t e = gm_min(s->removed[i].off + s->removed[i].len, off + len);

		if (a < e)
			memset(buf + (a - off), 0, e - a);
	}
	pthread_mutex_unlock(&s->lock);
}

/* One UFFDIO_COPY (src) or UFFDIO_ZEROPAGE (src NULL): bytes placed before
 * an error, and the errno (0 when all went). */
static int gm_uffd_fill(struct gm_uffd_sess *s, uint64_t dst, const void *src, uint64_t len,
			uint64_t *done)
{
	struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)src, .len = len };
	struct uffdio_zeropage z = { .range = { .start = dst, .len = len } };
	int64_t n;
	int err;

	if (src) {
		err = ioctl(s->uffd, UFFDIO_COPY, &c) ? errno : 0;
		n = c.copy;
	} else {
		err = ioctl(s->uffd, UFFDIO_ZEROPAGE, &z) ? errno : 0;
		n = z.zeropage;
		/* hugetlb has no ZEROPAGE: copy zero pages instead. */
		if (err == EINVAL && n == -EINVAL)
			return gm_uffd_fill(s, dst, s->zero, len, done);
	}
	*done = err ? (n > 0 ? (uint64_t)n : 0) : len;
	return err;
}

/* Place [dst, dst + len) of one region; pages already there stay (and in
 * MINOR mode are mapped from the page cache). */
static int gm_uffd_place_range(struct gm_uffd_sess *s, const struct gm_uffd_region *r,
			       uint64_t dst, const uint8_t *src, uint64_t len)
{
	uint64_t pos = 0, done;
	int err;

	while (pos < len) {
		err = gm_uffd_fill(s, dst + pos, src ? src + pos : NULL, len - pos, &done);
		pos += done;
		if (!err)
			break;
		if (err == EEXIST) {
			if (s->backing_fd >= 0) {
				struct uffdio_continue c = {
					.range = { .start = dst + pos, .len = r->page_size },
				};

				if (!ioctl(s->uffd, UFFDIO_CONTINUE, &c))
					atomic_fetch_add(&s->minor, 1);
			}
			pos += r->page_size;
			continue;
		}
		if (err == ENOENT || err == EFAULT)
			return 0;	/* the VMM unmapped it meanwhile */
		return -err;		/* EAGAIN, ESRCH, ENOMEM, ... */
	}
	return 0;
}

/* Each region's part of the unit at off (len bytes in buf, or zero). */
static int gm_uffd_place_regions(struct gm_uffd_sess *s, uint64_t off, uint64_t len,
				 const uint8_t *buf)
{
	int err;

	for (unsigned i = 0; i < s->nregions; i++) {
		const struct gm_uffd_region *r = &s->regions[i];
		uint64_t a = off > r->offset ? off : r->offset;
		uint64_t e = gm_min(off + len, r->offset + r->size);

		if (a >= e)
			continue;
		err = gm_uffd_place_range(s, r, r->addr + (a - r->offset),
					  buf ? buf + (a - off) : NULL, e - a);
		if (err)
			return err;
	}
	return 0;
}

/* The prefetcher in MINOR mode: into the page cache, holes left alone. */
static int gm_uffd_place_backing(struct gm_uffd_sess *s, uint64_t off, uint64_t len,
				 const uint8_t *buf)
{
	while (len) {
		ssize_t n = pwrite(s->backing_fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		/* A write that makes no progress is the store's failure (full),
		 * not -EIO, which says the snapshot's bytes are bad (unit.h). */
		if (n <= 0)
			return n < 0 ? -errno : -ENOSPC;
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

int gm_uffd_place_unit(struct gm_uffd_sess *s, struct gm_snap_reader *rd, uint64_t u,
		       void *buf, bool via_backing)
{
	uint64_t off = u * s->unit, len = gm_min(s->unit, s->snap.mem_size - off);
	char why[GM_SNAP_WHY_MAX];
	bool zero = false;
	int err;

	err = gm_snap_read(rd, off, buf, len, &zero, why);
	if (err) {
		gm_err("%s: snapshot bytes %#llx+%llu: %s", s->name, (unsigned long long)off,
		       (unsigned long long)len, why);
		return err;	/* -EIO: unreadable or failed their checksum */
	}
	return gm_uffd_place_bytes(s, off, len, zero ? NULL : buf, via_backing);
}

int gm_uffd_place_bytes(struct gm_uffd_sess *s, uint64_t off, uint64_t len, void *buf,
			bool via_backing)
{
	int err;

	if (buf)
		gm_uffd_blank_removed(s, off, len, buf);
	if (s->ask) {
		err = gm_ask_place(s, off, len, buf);
		if (!err)
			atomic_fetch_add(&s->bytes, len);
		return err;
	}
	if (via_backing)
		return buf ? gm_uffd_place_backing(s, off, len, buf) : 0;
	err = gm_uffd_place_regions(s, off, len, buf);
	if (!err)
		atomic_fetch_add(&s->bytes, len);
	return err;
}

int gm_uffd_place_page(struct gm_uffd_sess *s, struct gm_snap_reader *rd,
		       const struct gm_uffd_region *r, uint64_t addr, void *buf)
{
	uint64_t page = addr & ~(r->page_size - 1);
	uint64_t soff = r->offset + (page - r->addr);
	uint64_t u = soff / s->unit, uoff = u * s->unit;
	char why[GM_SNAP_WHY_MAX];
	bool zero = true;
	int err;

	if (!gm_uffd_is_removed(s, soff, r->page_size)) {
		err = gm_snap_read(rd, uoff, buf, gm_min(s->unit, s->snap.mem_size - uoff), &zero,
				   why);
		if (err) {
			gm_err("%s: snapshot bytes %#llx+%llu: %s", s->name,
			       (unsigned long long)uoff, (unsigned long long)s->unit, why);
			return err;
		}
	}
	err = gm_uffd_place_range(s, r, page, zero ? NULL : (uint8_t *)buf + (soff - uoff),
				  r->page_size);
	if (!err)
		atomic_fetch_add(&s->bytes, r->page_size);
	return err;
}

int gm_uffd_place_with(struct gm_uffd_sess *s, uint64_t u, void *ctx)
{
	struct gm_uffd_placer *pl = ctx;

	return gm_uffd_place_unit(s, pl->rd, u, pl->buf, pl->via_backing);
}

int gm_uffd_poison_page(struct gm_uffd_sess *s, const struct gm_uffd_region *r, uint64_t dst)
{
	struct uffdio_poison p = { .range = { .start = dst, .len = r->page_size } };

	return ioctl(s->uffd, UFFDIO_POISON, &p) ? -errno : 0;
}

int gm_uffd_poison_unit(struct gm_uffd_sess *s, uint64_t u)
{
	uint64_t off = u * s->unit, len = gm_min(s->unit, s->snap.mem_size - off);
	uint64_t done;
	int err;

	for (unsigned i = 0; i < s->nregions; i++) {
		const struct gm_uffd_region *r = &s->regions[i];
		uint64_t a = off > r->offset ? off : r->offset;
		uint64_t e = gm_min(off + len, r->offset + r->size);

		for (; a < e; a += r->page_size) {
			uint64_t dst = r->addr + (a - r->offset);

			if (gm_uffd_is_removed(s, a, r->page_size))
				err = -gm_uffd_fill(s, dst, NULL, r->page_size, &done);
			else
				err = gm_uffd_poison_page(s, r, dst);
			if (err && err != -EEXIST && err != -ENOENT && err != -EFAULT)
				return err;
		}
	}
	return 0;
}
