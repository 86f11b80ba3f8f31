/*
 * Secret shim files (docs/shim.md, "The carve-out and secret files"):
 * pages from the module's carve-out, outside the kernel's direct map,
 * mapped as PFNs.  The direct-map report proves where pages are (and that
 * it can tell: an ordinary file's pages are mapped); then what an
 * ordinary file does, a secret one does too: mappings, read/write, punch
 * and truncate, ask mode, POPULATE, conversion, the pfncache, the page
 * limit, persistence, and a KVM guest on it, with figures against
 * ordinary shim files and guest_memfd.  The test guest boots with the
 * carve-out (tools/test-vm/run.sh).  Part of shim-test (its table names
 * these tests).
 *
 * Not for: gmemfsd's secret policy (its own tests).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "gmemfs.h"
#include "gmemfs_nl.h"
#include "common/clock.h"
#include "gm-test-util.h"
#include "shim-test.h"

#define MB2	(2UL << 20)
#define SECRET	GMEMFS_SHIM_F_SECRET

static int sfile(struct gm_shimc *nl, uint64_t size, uint32_t flags, uint32_t mode,
		 uint32_t *id)
{
	uint32_t fid;
	int fd;

	CHECK_ERR(gm_shimc_create(nl, size, flags, 0, mode, &fid, &fd), 0);
	if (id)
		*id = fid;
	return fd;
}

/* The carve-out's free pages (INFO); its size in *pages if not NULL. */
static long long carve_free(struct gm_shimc *nl, uint64_t *pages)
{
	uint64_t total, free;

	CHECK_ERR(gm_shimc_info(nl, &total, &free), 0);
	CHECK(total > 0 && free <= total, "carve-out %llu pages, %llu free",
	      (unsigned long long)total, (unsigned long long)free);
	if (pages)
		*pages = total;
	return (long long)free;
}

/* Poll INFO until want pages are free, up to 3 s (a child's fds close late). */
static long long carve_free_wait(struct gm_shimc *nl, long long want)
{
	uint64_t t0 = gm_mono_ns();
	long long free;

	while ((free = carve_free(nl, NULL)) != want && gm_mono_ns() - t0 < 3000000000ull)
		usleep(10000);	/* a figure: nothing to poll() on */
	return free;
}

static int direct_map(int fd, uint64_t off, uint64_t pages, uint8_t *buf)
{
	struct gmemfs_shim_direct_map dm = { .offset = off, .pages = pages,
					     .buf = (uintptr_t)buf };

	return ioctl(fd, GMEMFS_SHIM_IOC_DIRECT_MAP, &dm) ? -errno : 0;
}

struct dm_count {
	size_t absent, hidden, mapped;
};

/* Report fd's pages as a "directmap:" line; the counts. */
static struct dm_count dm_report(int fd, size_t pages, const char *what)
{
	static uint8_t st[4096];
	struct dm_count c = { 0 };

	CHECK(pages <= sizeof(st), "%zu pages", pages);
	CHECK_ERR(direct_map(fd, 0, pages, st), 0);
	for (size_t i = 0; i < pages; i++) {
		CHECK(st[i] <= GMEMFS_SHIM_DM_MAPPED, "page %zu state %u", i, st[i]);
		c.absent += st[i] == GMEMFS_SHIM_DM_ABSENT;
		c.hidden += st[i] == GMEMFS_SHIM_DM_HIDDEN;
		c.mapped += st[i] == GMEMFS_SHIM_DM_MAPPED;
	}
	printf("directmap: %s: %zu pages, %zu held: %zu hidden, %zu mapped; %zu absent\n",
	       what, pages, c.hidden + c.mapped, c.hidden, c.mapped, c.absent);
	return c;
}

static int cache_read1(int fd, uint64_t off, char *c, bool *hit)
{
	struct gmemfs_shim_cache_read r = { .offset = off, .size = 1,
					    .buf = (uintptr_t)c };

	if (ioctl(fd, GMEMFS_SHIM_IOC_CACHE_READ, &r))
		return -errno;
	*hit = r.flags & GMEMFS_SHIM_CACHE_HIT;
	return 0;
}

static long long st_pages(int fd)
{
	struct stat sb;

	CHECK(fstat(fd, &sb) == 0, "fstat: %s", strerror(errno));
	return sb.st_blocks * 512 / (long long)PG;
}

static void fill_page(char *page, size_t i, unsigned salt)
{
	memset(page, pattern(i + salt), PG);
}

static void drop_privileges(void *arg)
{
	uint8_t st;

	CHECK(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0,
	      "drop: %s", strerror(errno));
	_exit(direct_map(*(int *)arg, 0, 1, &st) == -EPERM ? 0 : 1);
}

/* Pages written, faulted, populated and a 2M piece: every one hidden. */
void t_secret_directmap(void)
{
	static unsigned char data[16 * PG];
	struct gm_shimc *nl = daemon_up();
	const size_t size = 2 * MB2, pages = size / PG;
	long long free0 = carve_free(nl, NULL);
	struct gm_shimc_event ev[16];
	struct dm_count c;
	char page[PG], *p;
	uint8_t st[4];
	uint32_t id;
	int fd, n, ofd;

	fd = sfile(nl, size, SECRET, GMEMFS_SHIM_FAULT_AUTO, &id);
	CHECK_ERR(gm_shimc_set_order(nl, id, MB2, MB2, 9), 0);
	for (size_t i = 0; i < 16; i++) {
		fill_page(page, i, 0);
		CHECK(pwrite(fd, page, PG, i * PG) == PG, "pwrite: %s", strerror(errno));
	}
	p = map(fd, size);
	for (size_t i = 16; i < 32; i++)
		p[i * PG] = (char)pattern(i);
	for (size_t i = 0; i < 16; i++)
		memset(data + i * PG, pattern(32 + i), PG);
	CHECK_ERR(gm_shimc_populate(nl, id, 32 * PG, data, sizeof(data), 0), 0);
	accept_all(nl, ev, 16);
	p[MB2 + 7 * PG] = 9;	/* the 2M block: one piece */
	n = accept_all(nl, ev, 16);
	CHECK(n == 1 && ev[0].offset == MB2 && ev[0].pages == 512,
	      "2M fault: %d events, off %llu pages %llu", n,
	      (unsigned long long)ev[0].offset, (unsigned long long)ev[0].pages);
	for (size_t i = 0; i < 48; i++)
		CHECK(p[i * PG] == (char)pattern(i), "page %zu", i);
	CHECK(p[MB2 + 7 * PG] == 9 && p[MB2 + 8 * PG] == 0, "2M piece");
	c = dm_report(fd, pages, "secret file (written, faulted, populated, a 2M piece)");
	CHECK(c.hidden == 48 + 512 && c.mapped == 0, "%zu hidden %zu mapped", c.hidden,
	      c.mapped);
	CHECK(st_pages(fd) == 48 + 512, "st_blocks %lld pages", st_pages(fd));
	CHECK(carve_free(nl, NULL) == free0 - 560, "carve-out free %lld, was %lld",
	      carve_free(nl, NULL), free0);

	/* The check can fail: an ordinary shim file's pages are mapped. */
	ofd = sfile(nl, 64 * PG, 0, GMEMFS_SHIM_FAULT_AUTO, NULL);
	for (size_t i = 0; i < 48; i++)
		CHECK(pwrite(ofd, page, PG, i * PG) == PG, "pwrite: %s", strerror(errno));
	c = dm_report(ofd, 64, "ordinary shim file (written)");
	CHECK(c.mapped == 48 && c.hidden == 0 && c.absent == 16, "%zu mapped %zu hidden",
	      c.mapped, c.hidden);

	/* Bad input, and only CAP_SYS_ADMIN may ask. */
	CHECK_ERR(direct_map(fd, 100, 1, st), -EINVAL);
	CHECK_ERR(direct_map(fd, 0, 0, st), -EINVAL);
	CHECK_ERR(direct_map(fd, size - PG, 2, st), -EINVAL);
	CHECK_ERR(direct_map(fd, 0, (1 << 20) + 1, st), -EINVAL);
	CHECK(in_child(drop_privileges, &fd, 5000) == 0, "unprivileged DIRECT_MAP not EPERM");
	munmap(p, size);
	close(fd);
	close(ofd);
	CHECK(carve_free_wait(nl, free0) == free0, "carve-out free %lld after close, want %lld",
	      carve_free(nl, NULL), free0);
	gm_shimc_close(nl);
}

/* Mappings, read/write, punch and truncate; zeroed pages back. */
void t_secret_rw(void)
{
	struct gm_shimc_event ev[64];
	struct gm_shimc *nl = daemon_up();
	const size_t pages = 256, size = pages * PG;
	long long free0 = carve_free(nl, NULL);
	char page[PG], *p;
	int fd, fd2, n;

	fd = sfile(nl, size, SECRET, GMEMFS_SHIM_FAULT_AUTO, NULL);
	p = map(fd, size);
	for (size_t i = 0; i < pages; i++)
		memset(p + i * PG, pattern(i), PG);
	for (size_t i = 0; i < pages; i++)
		CHECK(pread(fd, page, PG, i * PG) == PG && page[0] == (char)pattern(i) &&
		      page[PG - 1] == (char)pattern(i), "pread of page %zu", i);
	/* A write across a page boundary, read back through the mapping. */
	CHECK(pwrite(fd, "secret!", 7, 9 * PG - 3) == 7, "pwrite: %s", strerror(errno));
	CHECK(!memcmp(p + 9 * PG - 3, "secret!", 7), "pwrite seen in the mapping");
	/* A read into a mapping of the same file (its fault takes the lock). */
	CHECK(pread(fd, p + 100 * PG, PG, 5 * PG) == PG && p[100 * PG] == (char)pattern(5),
	      "pread into the file's own mapping");
	CHECK(carve_free(nl, NULL) == free0 - (long long)pages, "free %lld", carve_free(nl, NULL));

	accept_all(nl, ev, 64);
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 16 * PG, 16 * PG) == 0,
	      "punch: %s", strerror(errno));
	CHECK(carve_free(nl, NULL) == free0 - (long long)pages + 16, "free after punch %lld",
	      carve_free(nl, NULL));
	n = accept_all(nl, ev, 64);
	CHECK(n == 1 && ev[0].type == GMEMFS_SHIM_EV_INVALIDATE && ev[0].offset == 16 * PG &&
	      ev[0].length == 16 * PG && ev[0].pages == 16, "punch: %d events, type %u pages %llu",
	      n, ev[0].type, (unsigned long long)ev[0].pages);
	CHECK(p[20 * PG] == 0 && p[32 * PG] == (char)pattern(32), "punched page %d",
	      p[20 * PG]);
	CHECK(ftruncate(fd, 128 * PG) == 0, "truncate: %s", strerror(errno));
	CHECK(carve_free(nl, NULL) == free0 - 128 + 16 - 1, "free after truncate %lld",
	      carve_free(nl, NULL));	/* page 20 came back when read */
	CHECK(ftruncate(fd, size) == 0 && pread(fd, page, PG, 200 * PG) == PG && page[0] == 0,
	      "a page past the old end after growing again");
	accept_all(nl, ev, 64);
	munmap(p, size);
	close(fd);
	CHECK(carve_free_wait(nl, free0) == free0, "free %lld after close", carve_free(nl, NULL));
	n = accept_all(nl, ev, 64);
	CHECK(n == 1 && ev[0].type == GMEMFS_SHIM_EV_INVALIDATE &&
	      ev[0].flags == GMEMFS_SHIM_INVAL_RELEASE && ev[0].pages == 128 - 16 + 1,
	      "release: %d events, flags %#x pages %llu", n, ev[0].flags,
	      (unsigned long long)ev[0].pages);

	/* The pages written above, handed out again: zero. */
	fd2 = sfile(nl, size, SECRET, GMEMFS_SHIM_FAULT_AUTO, NULL);
	p = map(fd2, size);
	for (size_t i = 0; i < size; i += sizeof(long))
		CHECK(*(long *)(p + i) == 0, "byte %zu of a new file: not zero", i);
	munmap(p, size);
	close(fd2);
	gm_shimc_close(nl);
}

/* A child's write fault on page index of its mapping. */
struct touch_at {
	char *p;
	size_t index;
};

static void touch_at(void *arg)
{
	struct touch_at *t = arg;

	t->p[t->index * PG] = 1;
}

/* The carve-out full: ENOSPC, SIGBUS, and nothing held is touched; the
 * page limit applies to secret pages as to others. */
void t_secret_enospc(void)
{
	struct gm_shimc *nl = daemon_up();
	long long free0 = carve_free(nl, NULL), held0 = param("pages_held");
	size_t big = (size_t)free0 * PG;
	char page[PG], *p;
	struct touch_at t;
	uint32_t id, bid;
	int fd, bfd;

	/* A small file with data, then one that takes all the rest. */
	fd = sfile(nl, 8 * PG, SECRET, GMEMFS_SHIM_FAULT_AUTO, &id);
	for (size_t i = 0; i < 4; i++) {
		fill_page(page, i, 1);
		CHECK(pwrite(fd, page, PG, i * PG) == PG, "pwrite: %s", strerror(errno));
	}
	bfd = sfile(nl, big, SECRET, GMEMFS_SHIM_FAULT_AUTO, &bid);
	CHECK_ERR(gm_shimc_set_order(nl, bid, 0, big & ~(MB2 - 1), 9), 0);
	CHECK(fallocate(bfd, 0, 0, big - 4 * PG) == 0, "fallocate: %s", strerror(errno));
	CHECK(carve_free(nl, NULL) == 0, "free %lld after taking all", carve_free(nl, NULL));
	CHECK(fallocate(bfd, 0, big - 4 * PG, 4 * PG) == -1 && errno == ENOSPC,
	      "fallocate past the carve-out: %s", strerror(errno));
	CHECK(pwrite(fd, page, PG, 5 * PG) == -1 && errno == ENOSPC, "pwrite: %s",
	      strerror(errno));
	CHECK_ERR(gm_shimc_populate(nl, id, 6 * PG, NULL, 0, 0), -ENOSPC);
	p = map(fd, 8 * PG);
	t = (struct touch_at){ p, 7 };
	CHECK_SIGBUS(in_child(touch_at, &t, 10000));
	for (size_t i = 0; i < 4; i++)
		CHECK(p[i * PG] == (char)pattern(i + 1) && p[i * PG + PG - 1] == (char)pattern(i + 1),
		      "page %zu after the carve-out ran out", i);
	CHECK(param("pages_held") == held0 + free0, "held %lld, want %lld",
	      param("pages_held"), held0 + free0);
	printf("  %lld pages taken; ENOSPC, SIGBUS and nothing lost\n", free0);
	close(bfd);
	CHECK(carve_free_wait(nl, free0 - 4) == free0 - 4, "free %lld after closing the big file",
	      carve_free(nl, NULL));

	/* The page limit: secret pages count as any. */
	CHECK_ERR(gm_shimc_set_limit(nl, param("pages_held") + 1), 0);
	CHECK(pwrite(fd, page, PG, 5 * PG) == PG, "pwrite under the limit: %s", strerror(errno));
	CHECK(pwrite(fd, page, PG, 6 * PG) == -1 && errno == ENOSPC, "pwrite past the limit: %s",
	      strerror(errno));
	CHECK_ERR(gm_shimc_set_limit(nl, GMEMFS_SHIM_NO_LIMIT), 0);
	munmap(p, 8 * PG);
	close(fd);
	CHECK(carve_free_wait(nl, free0) == free0, "free %lld at the end", carve_free(nl, NULL));
	gm_shimc_close(nl);
}

/* Ask mode, SET_MODE, multi-page and ZERO POPULATE on a secret file. */
void t_secret_ask(void)
{
	static unsigned char data[16 * PG];
	struct gm_shimc *nl = daemon_up();
	static struct server s;
	const size_t size = 4 * MB2;
	char buf[PG + 8], *p;
	uint32_t id;
	int fd;

	fd = sfile(nl, size, SECRET, GMEMFS_SHIM_FAULT_ASK, &id);
	CHECK_ERR(gm_shimc_set_order(nl, id, 2 * MB2, MB2, 9), 0);
	/* Placed before any fault: 16 pages at once, and 4 zero ones. */
	for (size_t i = 0; i < 16; i++)
		memset(data + i * PG, 0x30 + i, PG);
	CHECK_ERR(gm_shimc_populate(nl, id, 64 * PG, data, sizeof(data), 0), 0);
	CHECK_ERR(gm_shimc_populate(nl, id, 64 * PG, data, sizeof(data), 0), -EEXIST);
	CHECK_ERR(gm_shimc_populate(nl, id, 96 * PG, NULL, 4 * PG, 0), 0);
	server_start(&s, nl, SERVE_DATA);
	p = map(fd, size);
	for (size_t i = 0; i < 32; i++)
		CHECK(p[i * PG] == (char)pattern(i), "page %zu: %#x", i, p[i * PG]);
	CHECK(s.faults == 32, "%d FAULT events", s.faults);
	for (size_t i = 0; i < 16; i++)
		CHECK(p[(64 + i) * PG + 17] == 0x30 + (int)i, "populated page %zu", 64 + i);
	CHECK(p[97 * PG] == 0 && s.faults == 32, "a ZERO page asked the daemon");
	/* read() across two missing pages asks too; the 2M block in one FAULT. */
	CHECK(pread(fd, buf, sizeof(buf), 41 * PG - 4) == (ssize_t)sizeof(buf), "pread: %s",
	      strerror(errno));
	CHECK(buf[0] == (char)pattern(40) && buf[4] == (char)pattern(41) &&
	      buf[PG + 4] == (char)pattern(42), "pread data");
	CHECK(p[2 * MB2 + 300 * PG] == (char)pattern(512 * 2 + 300) &&
	      p[2 * MB2 + 5 * PG] == (char)pattern(512 * 2 + 5), "2M piece data");
	CHECK(s.faults == 32 + 3 + 1, "%d FAULT events after pread and the 2M block", s.faults);
	server_stop(&s);
	/* To auto: the kernel allocates zeroed carve-out pages. */
	CHECK_ERR(gm_shimc_set_mode(nl, id, GMEMFS_SHIM_FAULT_AUTO), 0);
	CHECK(p[200 * PG] == 0, "page 200 in auto mode");
	munmap(p, size);
	close(fd);
	gm_shimc_close(nl);
}

/* Conversion to private: SIGBUS through the mapping; the pfncache's
 * hits, refreshes and invalidations on punch, truncate and conversion. */
void t_secret_convert_cache(void)
{
	struct gm_shimc *nl = daemon_up();
	static struct server s;
	const size_t size = 16 * PG;
	struct touch_at t;
	bool hit = false;
	char c, *p;
	int fd;

	fd = sfile(nl, size, SECRET, GMEMFS_SHIM_FAULT_AUTO, NULL);
	server_start(&s, nl, SERVE_DATA);
	p = map(fd, size);
	for (size_t i = 0; i < 16; i++)
		p[i * PG] = (char)pattern(i);
	CHECK_ERR(cache_read1(fd, 5 * PG, &c, &hit), 0);
	CHECK(!hit && c == (char)pattern(5), "first cache read: hit %d %#x", hit, c);
	CHECK_ERR(cache_read1(fd, 5 * PG, &c, &hit), 0);
	CHECK(hit && c == (char)pattern(5), "second cache read: hit %d", hit);
	CHECK_ERR(convert(fd, 4 * PG, 4 * PG, GMEMFS_SHIM_CONVERT_PRIVATE), 0);
	t = (struct touch_at){ p, 5 };
	CHECK_SIGBUS(in_child(touch_at, &t, 10000));
	CHECK(pread(fd, &c, 1, 5 * PG) == -1 && errno == EACCES, "pread private: %s",
	      strerror(errno));
	CHECK_ERR(cache_read1(fd, 5 * PG, &c, &hit), -EACCES);
	CHECK_ERR(convert(fd, 4 * PG, 4 * PG, 0), 0);
	CHECK(p[5 * PG] == (char)pattern(5), "page 5 back shared, in place");
	CHECK_ERR(cache_read1(fd, 5 * PG, &c, &hit), 0);
	CHECK(!hit && c == (char)pattern(5), "cache after converting back: hit %d", hit);
	server_stop(&s);

	/* Punch: the cached mapping goes before the page does. */
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * PG, PG) == 0,
	      "punch: %s", strerror(errno));
	CHECK_ERR(cache_read1(fd, 5 * PG, &c, &hit), 0);
	CHECK(!hit && c == 0, "cache read after punch: hit %d %#x (stale page)", hit, c);
	/* Truncate below a cached page, grow again: zero, refreshed. */
	CHECK_ERR(cache_read1(fd, 12 * PG, &c, &hit), 0);
	CHECK(c == (char)pattern(12), "page 12 cached");
	CHECK(ftruncate(fd, 8 * PG) == 0, "truncate: %s", strerror(errno));
	CHECK_ERR(cache_read1(fd, 12 * PG, &c, &hit), -EINVAL);
	CHECK(ftruncate(fd, size) == 0, "grow");
	CHECK_ERR(cache_read1(fd, 12 * PG, &c, &hit), 0);
	CHECK(!hit && c == 0, "page 12 after shrink and grow: hit %d %#x", hit, c);
	munmap(p, size);
	close(fd);
	gm_shimc_close(nl);
}

/* A daemon registered with the token of 32 bytes 's'. */
static struct gm_shimc *daemon_secret_token(void)
{
	uint8_t token[GMEMFS_SHIM_TOKEN_MAX];
	struct gm_shimc *nl;

	memset(token, 's', sizeof(token));
	CHECK_ERR(gm_shimc_open(&nl), 0);
	CHECK_ERR(gm_shimc_register_token(nl, token, sizeof(token)), 0);
	CHECK_ERR(gm_shimc_set_limit(nl, GMEMFS_SHIM_NO_LIMIT), 0);
	return nl;
}

/* A secret file kept across its daemon's restart: LIST says SECRET. */
void t_secret_persist(void)
{
	struct gm_shimc_file files[GM_SHIMC_FILES_MAX];
	struct gm_shimc *nl = daemon_secret_token();
	const size_t size = 64 * PG;
	long long free0 = carve_free(nl, NULL);
	char page[PG];
	uint32_t id;
	int fd, n, i;

	CHECK_ERR(gm_shimc_create_named(nl, size, SECRET, 0, GMEMFS_SHIM_FAULT_AUTO, 0x5ec,
					&id, &fd), 0);
	for (size_t k = 0; k < 40; k++) {
		fill_page(page, k, 2);
		CHECK(pwrite(fd, page, PG, k * PG) == PG, "pwrite: %s", strerror(errno));
	}
	close(fd);
	gm_shimc_close(nl);	/* the daemon goes; the module keeps the file */

	nl = daemon_secret_token();
	n = gm_shimc_list(nl, 1, files, GM_SHIMC_FILES_MAX);
	CHECK(n > 0, "LIST: %d", n);
	for (i = 0; i < n && files[i].id != id; i++)
		;
	CHECK(i < n, "file %u not listed", id);
	CHECK(files[i].flags & SECRET && files[i].pages == 40 && files[i].cookie == 0x5ec &&
	      files[i].size == size, "listed: flags %#x pages %llu", files[i].flags,
	      (unsigned long long)files[i].pages);
	CHECK_ERR(gm_shimc_reopen(nl, id, &fd), 0);
	for (size_t k = 0; k < 40; k++)
		CHECK(pread(fd, page, PG, k * PG) == PG && page[0] == (char)pattern(k + 2) &&
		      page[PG - 1] == (char)pattern(k + 2), "page %zu after the restart", k);
	CHECK(dm_report(fd, 64, "secret file kept across a daemon restart").mapped == 0,
	      "a kept page in the direct map");
	printf("  LIST: file %u flags %#x pages %llu\n", id, files[i].flags,
	       (unsigned long long)files[i].pages);
	CHECK_ERR(gm_shimc_delete(nl, id), 0);
	close(fd);
	CHECK(carve_free_wait(nl, free0) == free0, "free %lld after DELETE and close",
	      carve_free(nl, NULL));
	gm_shimc_close(nl);
}

/* A KVM guest's RAM on a secret file: it writes every page, the host
 * reads them back through its own mapping, a second run checks them. */
void t_secret_kvm(void)
{
	const size_t size = 4UL << 20, npages = size / PG;
	struct gm_shimc *nl = daemon_up();
	uint64_t ns = 0, bad = 0, checked = 0;
	struct gm_vmm vm;
	char *host;
	int fd, err;

	CHECK(access("/dev/kvm", R_OK | W_OK) == 0, "the test guest has no /dev/kvm: %s",
	      strerror(errno));
	fd = sfile(nl, size, SECRET, GMEMFS_SHIM_FAULT_AUTO, NULL);
	host = map(fd, size);
	CHECK(gm_vmm_open(&vm, -1) == 0, "a VM: %s", vm.err);
	CHECK(gm_vmm_set_ram(&vm, &(struct gm_vmm_ram){ host, size, -1, 0 }) == 0,
	      "a memslot on the secret mapping: %s", vm.err);
	err = gm_vmm_touch(&vm, KVM_SEED, &ns);
	CHECK(err == 0, "the guest's writes: %d: %s", err, vm.err);
	CHECK(gm_vmm_verify(host, size, KVM_SEED, &bad) == 0, "page %llu",
	      (unsigned long long)bad);
	err = gm_vmm_check(&vm, KVM_SEED, 0, 1, npages, NULL, &checked);
	CHECK(err == 0 && checked == npages, "the checking guest: %d, %llu of %zu: %s", err,
	      (unsigned long long)checked, npages, vm.err);
	CHECK(dm_report(fd, npages, "secret file as a KVM guest's RAM").hidden == npages,
	      "not every guest page hidden");
	printf("  a KVM guest wrote and checked all %zu pages of secret memory (%.0f ns/page)\n",
	       npages, (double)ns / npages);
	gm_vmm_clear_ram(&vm);
	gm_vmm_close(&vm);
	munmap(host, size);
	close(fd);
	gm_shimc_close(nl);
}

/* ---- figures ---------------------------------------------------------- */

#define FIG_SIZE	(4UL << 20)
#define FIG_PAGES	(FIG_SIZE / PG)

enum fig_mem { FIG_SECRET, FIG_SHIM, FIG_GMEM, FIG_N };

/* A fresh file of that kind, FIG_SIZE bytes; -1 for guest_memfd without one. */
static int fig_file(struct gm_shimc *nl, struct gm_vmm *vm, bool have_gmem,
		    enum fig_mem m)
{
	if (m == FIG_GMEM)
		return have_gmem ? gm_vmm_create_gmem(vm, FIG_SIZE, GM_VMM_GMEM_MMAP |
						      GM_VMM_GMEM_INIT_SHARED) : -1;
	return sfile(nl, FIG_SIZE, m == FIG_SECRET ? SECRET : 0, GMEMFS_SHIM_FAULT_AUTO, NULL);
}

/* ns per page of the host's first write to each page. */
static double fig_host_touch(int fd)
{
	char *p = map(fd, FIG_SIZE);
	uint64_t t0 = gm_mono_ns();

	for (size_t i = 0; i < FIG_PAGES; i++)
		p[i * PG] = 1;
	t0 = gm_mono_ns() - t0;
	munmap(p, FIG_SIZE);
	return (double)t0 / FIG_PAGES;
}

/* ns per page of a guest's first write to each page. */
static double fig_guest_touch(struct gm_vmm *vm, int fd, bool gmem)
{
	char *host = map(fd, FIG_SIZE);
	uint64_t ns = 0;

	CHECK(gm_vmm_set_ram(vm, &(struct gm_vmm_ram){ host, FIG_SIZE, gmem ? fd : -1, 0 }) == 0,
	      "memslot: %s", vm->err);
	CHECK(gm_vmm_touch(vm, KVM_SEED, &ns) == 0, "touch: %s", vm->err);
	gm_vmm_clear_ram(vm);
	munmap(host, FIG_SIZE);
	return (double)ns / FIG_PAGES;
}

/* ns per page to place FIG_SIZE of data: POPULATE 2M at a time, or pwrite
 * (guest_memfd: pwrite where it has write(), else a copy through its
 * mapping, *how says which). */
static double fig_populate(struct gm_shimc *nl, int fd, uint32_t id, bool gmem,
			   const char **how)
{
	static unsigned char data[MB2];
	uint64_t t0;
	char *p;

	memset(data, 0x6b, sizeof(data));
	t0 = gm_mono_ns();
	if (!gmem) {
		for (size_t off = 0; off < FIG_SIZE; off += MB2)
			CHECK_ERR(gm_shimc_populate(nl, id, off, data, MB2, 0), 0);
		*how = "POPULATE 2M at a time";
	} else if (pwrite(fd, data, MB2, 0) == (ssize_t)MB2) {
		for (size_t off = MB2; off < FIG_SIZE; off += MB2)
			CHECK(pwrite(fd, data, MB2, off) == (ssize_t)MB2, "pwrite: %s",
			      strerror(errno));
		*how = "pwrite 2M at a time";
	} else {
		t0 = gm_mono_ns();
		p = map(fd, FIG_SIZE);
		for (size_t off = 0; off < FIG_SIZE; off += MB2)
			memcpy(p + off, data, MB2);
		munmap(p, FIG_SIZE);
		*how = "no write(): mmap+memcpy";
	}
	return (double)(gm_mono_ns() - t0) / FIG_PAGES;
}

static void fig_print(const char *what, double r[FIG_N][ROUNDS], bool have_gmem,
		      const char *gmem_how)
{
	double m[FIG_N];

	for (int k = 0; k < FIG_N; k++)
		m[k] = gm_median_sort(r[k], ROUNDS);
	if (!have_gmem) {
		printf("figure: TCG: %s, %lu pages, median of %d interleaved: secret %.0f ns/page, "
		       "shim %.0f ns/page, secret/shim %.2f; in-kernel guest_memfd with MMAP: "
		       "n/a on this kernel\n", what, FIG_PAGES, ROUNDS, m[0], m[1], m[0] / m[1]);
		return;
	}
	printf("figure: TCG: %s, %lu pages, median of %d interleaved: secret %.0f ns/page, "
	       "shim %.0f ns/page, guest_memfd%s %.0f ns/page; secret/shim %.2f, "
	       "secret/guest_memfd %.2f\n", what, FIG_PAGES, ROUNDS, m[0], m[1], gmem_how,
	       m[2], m[0] / m[1], m[0] / m[2]);
}

/* One round of the three figures for memory kind m into column r. */
static void fig_round(struct gm_shimc *nl, struct gm_vmm *vm, bool have_gmem, enum fig_mem m,
		      int r, double fig[3][FIG_N][ROUNDS], const char **how)
{
	uint32_t id = 0;
	int fd;

	fd = fig_file(nl, vm, have_gmem, m);
	if (fd < 0)
		return;
	fig[0][m][r] = fig_host_touch(fd);
	close(fd);
	fd = fig_file(nl, vm, have_gmem, m);
	fig[1][m][r] = fig_guest_touch(vm, fd, m == FIG_GMEM);
	close(fd);
	if (m == FIG_GMEM) {
		fd = fig_file(nl, vm, have_gmem, m);
	} else {
		CHECK_ERR(gm_shimc_create(nl, FIG_SIZE, m == FIG_SECRET ? SECRET : 0, 0,
					  GMEMFS_SHIM_FAULT_AUTO, &id, &fd), 0);
	}
	fig[2][m][r] = fig_populate(nl, fd, id, m == FIG_GMEM, how);
	close(fd);
}

void t_secret_figures(void)
{
	static double fig[3][FIG_N][ROUNDS];
	struct gm_shimc *nl = daemon_up();
	const char *how = "", *gmem_how = "";
	struct gm_vmm vm;
	bool have_gmem;
	char label[64];

	CHECK(gm_vmm_open(&vm, -1) == 0, "a VM: %s", vm.err);
	have_gmem = gm_vmm_gmem_flags(&vm) & GM_VMM_GMEM_MMAP;
	for (int r = 0; r < ROUNDS; r++)
		for (int m = 0; m < FIG_N; m++) {
			fig_round(nl, &vm, have_gmem, m, r, fig, &how);
			if (m == FIG_GMEM)
				gmem_how = how;
		}
	gm_vmm_close(&vm);
	fig_print("host first touch (mmap write fault)", fig[0], have_gmem, "");
	fig_print("guest first touch (KVM)", fig[1], have_gmem, "");
	snprintf(label, sizeof(label), " (%s)", gmem_how);
	fig_print("populate 4 MiB (shim files: POPULATE 2M at a time)", fig[2], have_gmem, label);
	gm_shimc_close(nl);
}

/* A carve-out that is System RAM: the module refuses to load. */
void t_secret_bad_carveout(void)
{
	struct gm_shimc *nl;
	struct utsname u;
	char ko[256];
	int fd, err;

	CHECK(uname(&u) == 0, "uname");
	snprintf(ko, sizeof(ko), "/lib/modules/%s/extra/gmemfs.ko", u.release);
	CHECK(syscall(SYS_delete_module, "gmemfs", O_NONBLOCK) == 0 || errno == ENOENT,
	      "unload: %s", strerror(errno));
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "%s: %s", ko, strerror(errno));
	err = syscall(SYS_finit_module, fd, "carveout=16M@0x1000000", 0) ? -errno : 0;
	CHECK_ERR(err, -EINVAL);
	err = syscall(SYS_finit_module, fd, "carveout=16M@0x80000100", 0) ? -errno : 0;
	CHECK_ERR(err, -EINVAL);	/* not page aligned */
	close(fd);
	CHECK(system("dmesg | grep -q 'gmemfs: carveout=16M@0x1000000 refused: .* overlaps System RAM'") == 0,
	      "no log line for the refusal");
	system("dmesg | grep 'gmemfs: carveout=' | tail -n 2");
	/* Loaded on demand again, with the command line's carve-out. */
	nl = daemon_up();
	CHECK(carve_free(nl, NULL) > 0, "no carve-out after the reload");
	gm_shimc_close(nl);
}
