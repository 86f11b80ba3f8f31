/*
 * gmembench's scenarios: what one sample measures, on a fresh object of one
 * backend.  Each measure function also records evidence that the work was
 * really done (bytes the file holds, pages the guest wrote, bytes left after
 * a punch) and fails the sample if the evidence is short, so a figure is
 * never printed for work that did not happen.
 *
 * Not for: choosing the order of samples (gmembench.c) or statistics and
 * output (report.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/clock.h"
#include "gm-smaps.h"

#define PAGE		4096ULL
#define IO_CHUNK	(1ULL << 20)
#define OPEN_ITERS	200
#define GIB		(1024.0 * 1024.0 * 1024.0)

static double gib_per_s(const struct bench *b, double secs)
{
	return (double)b->size / GIB / secs;
}

static double ns_per_page(const struct bench *b, double secs)
{
	return secs * 1e9 / (double)(b->size / PAGE);
}

static int job_fail(const struct bench_job *job, const char *what, int err)
{
	fprintf(stderr, "gmembench: %s: %s: %s\n", job->bk->name, what, strerror(-err));
	return err;
}

/* Not applicable to this backend: say why. */
static int job_na(struct bench_job *job, const char *why, int err)
{
	snprintf(job->why, sizeof(job->why), "%s: %s", why, strerror(-err));
	return -EOPNOTSUPP;
}

static int is_unsupported(int err)
{
	return err == -EOPNOTSUPP || err == -EINVAL || err == -ENODEV || err == -ENOSYS ||
	       err == -ESPIPE;
}

/* A fresh object for a guest on the VM vm_fd, or with -1 for userspace. */
static int obj_create_for(struct bench *b, struct bench_job *job, struct bench_obj *obj,
			  int vm_fd)
{
	obj->fd = -1;
	obj->path[0] = '\0';
	obj->vm_fd = vm_fd;
	return job->bk->create(b, job->st, obj);
}

static int obj_create(struct bench *b, struct bench_job *job, struct bench_obj *obj)
{
	return obj_create_for(b, job, obj, -1);
}

static void *obj_map(const struct bench *b, const struct bench_job *job,
		     const struct bench_obj *obj)
{
	void *p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, obj->fd, 0);

	if (p == MAP_FAILED) {
		job_fail(job, "mmap", -errno);
		return NULL;
	}
	return p;
}

/* One byte per 4K page; volatile so the stores happen in order. */
static void touch_pages(void *p, uint64_t size, unsigned char v)
{
	volatile unsigned char *c = p;
	uint64_t off;

	for (off = 0; off < size; off += PAGE)
		c[off] = v;
}

/* Bytes of the mapping at p that the kernel maps with huge pages: shmem
 * THP mapped by PMD, or hugetlb pages, from its /proc/self/smaps entry;
 * -1 if the mapping is not there. */
static long long mapped_huge_bytes(const void *p)
{
	static const char *const fields[] = { "ShmemPmdMapped", "FilePmdMapped",
					      "Shared_Hugetlb", "Private_Hugetlb" };
	long long total = -1;
	unsigned int k;

	for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
		long kb = gm_smaps_kb(p, fields[k]);

		if (kb >= 0)
			total = (total < 0 ? 0 : total) + (long long)kb * 1024;
	}
	return total;
}

/* Bytes of memory the object holds: st_blocks, or where a file system
 * does not count blocks (guest_memfd), the pages mincore() finds. */
static long long obj_populated(const struct bench *b, const struct bench_obj *obj)
{
	unsigned char *vec;
	struct stat st;
	long long bytes = 0;
	uint64_t i, n = b->size / PAGE;
	void *p;

	if (fstat(obj->fd, &st) < 0)
		return -errno;
	if (st.st_blocks)
		return (long long)st.st_blocks * 512;
	p = mmap(NULL, b->size, PROT_READ, MAP_SHARED, obj->fd, 0);
	if (p == MAP_FAILED)
		return 0;
	vec = malloc(n);
	if (vec && mincore(p, b->size, vec) == 0)
		for (i = 0; i < n; i++)
			bytes += (vec[i] & 1) ? (long long)PAGE : 0;
	free(vec);
	munmap(p, b->size);
	return bytes;
}

/* The sample's evidence: the object must hold (or, after a punch, not
 * hold) its memory. */
static int check_populated(struct bench *b, struct bench_job *job,
			   const struct bench_obj *obj, int want_full)
{
	long long bytes = obj_populated(b, obj);

	job->sample.check = bytes;
	if (want_full ? bytes >= (long long)b->size : bytes == 0)
		return 0;
	fprintf(stderr, "gmembench: %s: the object holds %lld bytes, expected %s\n",
		job->bk->name, bytes, want_full ? "all of it" : "none");
	return -EIO;
}

/* Fill the whole object with data through a mapping (every backend can be
 * mapped), untimed; records how much of it the kernel mapped huge. */
static int fill_by_mmap(struct bench *b, struct bench_job *job, const struct bench_obj *obj)
{
	void *p = obj_map(b, job, obj);

	if (!p)
		return -EIO;
	memset(p, 0x5a, b->size);
	job->sample.huge = mapped_huge_bytes(p);
	munmap(p, b->size);
	return 0;
}

/* --- scenarios ----------------------------------------------------------- */

/* One timed pass writing a byte per page of a fresh object's mapping: its
 * first touch, or with refault, a second pass after munmap and mmap, when
 * every page is in the page cache already. */
static int touch_sample(struct bench *b, struct bench_job *job, int refault)
{
	struct bench_obj obj;
	double t0, t1;
	void *p;
	int err = obj_create(b, job, &obj);

	if (err)
		return err;
	err = -EIO;
	p = obj_map(b, job, &obj);
	if (p && refault) {
		touch_pages(p, b->size, 1);
		munmap(p, b->size);
		p = obj_map(b, job, &obj);
	}
	if (!p)
		goto out;
	t0 = gm_mono_ns() / 1e9;
	touch_pages(p, b->size, 2);
	t1 = gm_mono_ns() / 1e9;
	job->sample.huge = mapped_huge_bytes(p);
	munmap(p, b->size);
	job->sample.value = ns_per_page(b, t1 - t0);
	err = check_populated(b, job, &obj, 1);
out:
	bench_obj_release(&obj);
	return err;
}

static int measure_touch(struct bench *b, struct bench_job *job)
{
	return touch_sample(b, job, 0);
}

static int measure_refault(struct bench *b, struct bench_job *job)
{
	return touch_sample(b, job, 1);
}

/* The guest's run on a mapping of obj; check = pages it wrote. */
static int guest_run(struct bench *b, struct bench_job *job, const struct bench_obj *obj,
		     void *p)
{
	uint32_t seed = (uint32_t)(gm_mono_ns() / 1000);
	struct gm_vmm_ram ram = {
		.host = p, .size = b->size,
		.gmem_fd = (job->bk->flags & BK_GUEST_MEMFD) ? obj->fd : -1,
	};
	uint64_t ns = 0, bad = 0;
	int err;

	err = gm_vmm_set_ram(&b->vm, &ram);
	if (!err)
		err = gm_vmm_touch(&b->vm, seed, &ns);
	if (err) {
		fprintf(stderr, "gmembench: %s: guest: %s\n", job->bk->name, b->vm.err);
		gm_vmm_clear_ram(&b->vm);
		return err;
	}
	gm_vmm_clear_ram(&b->vm);
	job->sample.value = (double)ns / (double)(b->size / PAGE);
	if (gm_vmm_verify(p, b->size, seed, &bad)) {
		job->sample.check = (long long)bad;
		fprintf(stderr, "gmembench: %s: page %llu lacks the guest's word\n",
			job->bk->name, (unsigned long long)bad);
		return -EIO;
	}
	job->sample.check = (long long)(b->size / PAGE);
	return 0;
}

static int measure_guest_touch(struct bench *b, struct bench_job *job)
{
	struct bench_obj obj;
	void *p;
	int err;

	if (!b->have_vm) {
		snprintf(job->why, sizeof(job->why), "%s", b->vm_reason);
		return -EOPNOTSUPP;
	}
	if (b->size > GM_VMM_RAM_MAX) {
		snprintf(job->why, sizeof(job->why), "the test VMM's RAM slot holds at most %llu "
			 "bytes", GM_VMM_RAM_MAX);
		return -EOPNOTSUPP;
	}
	err = obj_create_for(b, job, &obj, b->vm.vm_fd);
	if (err)
		return err;
	p = obj_map(b, job, &obj);
	if (!p) {
		err = -EIO;
		goto out;
	}
	err = guest_run(b, job, &obj, p);
	job->sample.huge = mapped_huge_bytes(p);
	munmap(p, b->size);
out:
	bench_obj_release(&obj);
	return err;
}

/* guest_memfd keeps no block count, and the folios fallocate puts in its
 * page cache are not uptodate until first mapped, so mincore() cannot see
 * them either: nothing observable is left to check (check = -1). */
static int fallocate_check(struct bench *b, struct bench_job *job, const struct bench_obj *obj)
{
	if (job->bk->flags & BK_GUEST_MEMFD) {
		job->sample.check = -1;
		return 0;
	}
	return check_populated(b, job, obj, 1);
}

static int measure_fallocate(struct bench *b, struct bench_job *job)
{
	struct bench_obj obj;
	double t0, t1;
	int err = obj_create(b, job, &obj);

	if (err)
		return err;
	/* KEEP_SIZE: guest_memfd refuses any other mode; the size is set
	 * already, so for the others it changes nothing. */
	t0 = gm_mono_ns() / 1e9;
	err = fallocate(obj.fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)b->size) < 0 ? -errno : 0;
	t1 = gm_mono_ns() / 1e9;
	if (is_unsupported(err))
		err = job_na(job, "fallocate", err);
	else if (err)
		job_fail(job, "fallocate", err);
	if (!err) {
		job->sample.value = gib_per_s(b, t1 - t0);
		err = fallocate_check(b, job, &obj);
	}
	bench_obj_release(&obj);
	return err;
}

/* A chunk buffer of data, faulted in before any timing. */
static void *io_buffer(void)
{
	void *buf = aligned_alloc(PAGE, IO_CHUNK);

	if (buf)
		memset(buf, 0xa5, IO_CHUNK);
	return buf;
}

/* pwrite (write) or pread the whole object in chunks: 0 or -errno. */
static int io_pass(const struct bench *b, int fd, void *buf, int write)
{
	uint64_t off;
	ssize_t n;

	for (off = 0; off < b->size; off += (uint64_t)n) {
		size_t len = b->size - off < IO_CHUNK ? (size_t)(b->size - off) : IO_CHUNK;

		n = write ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
	}
	return 0;
}

/* Time one I/O pass over a fresh object; prefill it first by mmap if
 * asked.  Population by write() is checked with st_blocks. */
static int timed_io(struct bench *b, struct bench_job *job, int write, int prefill)
{
	const char *what = write ? "write" : "read";
	struct bench_obj obj;
	void *buf = io_buffer();
	double t0, t1;
	int err;

	if (!buf)
		return -ENOMEM;
	err = obj_create(b, job, &obj);
	if (err)
		goto out_free;
	if (prefill && fill_by_mmap(b, job, &obj)) {
		err = -EIO;
		goto out_release;
	}
	t0 = gm_mono_ns() / 1e9;
	err = io_pass(b, obj.fd, buf, write);
	t1 = gm_mono_ns() / 1e9;
	if (is_unsupported(err)) {
		err = job_na(job, what, err);
	} else if (err) {
		job_fail(job, what, err);
	} else {
		job->sample.value = gib_per_s(b, t1 - t0);
		err = check_populated(b, job, &obj, 1);
	}
out_release:
	bench_obj_release(&obj);
out_free:
	free(buf);
	return err;
}

static int measure_write_populate(struct bench *b, struct bench_job *job)
{
	return timed_io(b, job, 1, 0);
}

static int measure_seq_read(struct bench *b, struct bench_job *job)
{
	return timed_io(b, job, 0, 1);
}

static int measure_seq_write(struct bench *b, struct bench_job *job)
{
	return timed_io(b, job, 1, 1);
}

static int measure_punch(struct bench *b, struct bench_job *job)
{
	struct bench_obj obj;
	double t0, t1;
	int err = obj_create(b, job, &obj);

	if (err)
		return err;
	err = fill_by_mmap(b, job, &obj);
	if (!err)
		err = check_populated(b, job, &obj, 1);
	if (err)
		goto out;
	t0 = gm_mono_ns() / 1e9;
	err = fallocate(obj.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			(off_t)b->size) < 0 ? -errno : 0;
	t1 = gm_mono_ns() / 1e9;
	if (is_unsupported(err))
		err = job_na(job, "punch hole", err);
	else if (err)
		job_fail(job, "punch hole", err);
	if (!err) {
		job->sample.value = gib_per_s(b, t1 - t0);
		err = check_populated(b, job, &obj, 0);
	}
out:
	bench_obj_release(&obj);
	return err;
}

/* The open of one open-mmap cycle: the backend's own (the control socket
 * for memory FUSE cannot map), else the file's path, or /proc/self/fd/N
 * for a memfd. */
static int obj_reopen(struct bench *b, struct bench_job *job, const struct bench_obj *obj,
		      const char *path)
{
	int fd;

	if (job->bk->reopen)
		return job->bk->reopen(b, job->st, obj);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* open + mmap + munmap + close of an existing object, us per cycle. */
static int measure_open_mmap(struct bench *b, struct bench_job *job)
{
	char path[PATH_MAX + 32];
	struct bench_obj obj;
	double t0, t1;
	int err, i;

	if (job->bk->flags & BK_NO_REOPEN) {
		snprintf(job->why, sizeof(job->why), "no name to open: the object is its "
			 "creator's fd only");
		return -EOPNOTSUPP;
	}
	err = obj_create(b, job, &obj);
	if (err)
		return err;
	if (obj.path[0])
		snprintf(path, sizeof(path), "%s", obj.path);
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d", obj.fd);
	t0 = gm_mono_ns() / 1e9;
	for (i = 0; i < OPEN_ITERS && !err; i++) {
		int fd = obj_reopen(b, job, &obj, path);
		void *p;

		if (fd < 0) {
			err = job_fail(job, "open", fd);
			break;
		}
		p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			err = job_fail(job, "mmap", -errno);
		else
			munmap(p, b->size);
		close(fd);
	}
	t1 = gm_mono_ns() / 1e9;
	job->sample.value = (t1 - t0) * 1e6 / OPEN_ITERS;
	job->sample.check = i;
	bench_obj_release(&obj);
	return err;
}

/* memset of a pre-faulted buffer of the same size: the ceiling for every
 * throughput row. */
int bench_measure_ceiling(struct bench *b, struct bench_sample *s)
{
	static unsigned char v;
	double t0, t1;

	t0 = gm_mono_ns() / 1e9;
	memset(b->ceiling_buf, ++v, b->size);
	t1 = gm_mono_ns() / 1e9;
	s->value = gib_per_s(b, t1 - t0);
	s->check = (long long)b->size;
	return 0;
}

const struct bench_scenario bench_scenarios[] = {
	{ "touch", "userspace first touch (mmap, 1 byte per 4K page)", "ns/page", 0,
	  "bytes_populated", 1, 0, measure_touch },
	{ "refault", "refault after munmap/mmap (page cache hit)", "ns/page", 0,
	  "bytes_populated", 1, 0, measure_refault },
	{ "guest-touch", "guest first touch (KVM vCPU, 1 word per 4K page)", "ns/page", 0,
	  "pages_verified", 1, 1, measure_guest_touch },
	{ "fallocate", "populate with fallocate", "GiB/s", 1,
	  "bytes_populated", 0, 0, measure_fallocate },
	{ "write-populate", "populate with write()", "GiB/s", 1,
	  "bytes_populated", 0, 0, measure_write_populate },
	{ "punch", "punch hole of the whole file", "GiB/s", 1,
	  "bytes_after_punch", 1, 0, measure_punch },
	{ "seq-read", "sequential read() through the fd", "GiB/s", 1,
	  "bytes_populated", 1, 0, measure_seq_read },
	{ "seq-write", "sequential write() through the fd (populated file)", "GiB/s", 1,
	  "bytes_populated", 1, 0, measure_seq_write },
	{ "open-mmap", "open+mmap+munmap+close", "us", 0,
	  "cycles", 0, 0, measure_open_mmap },
};
const unsigned int bench_nscenarios = sizeof(bench_scenarios) / sizeof(bench_scenarios[0]);
_Static_assert(sizeof(bench_scenarios) / sizeof(bench_scenarios[0]) <= BENCH_MAX_SCENARIOS,
	       "raise BENCH_MAX_SCENARIOS");
