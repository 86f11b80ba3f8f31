/*
 * Unit tests of the page pool and the shmem providers: the split arithmetic
 * on its own, then real tmpfs mounts (root only) where the kernel, not the
 * daemon, has to refuse memory past the budget.
 *
 * Every tmpfs test works under one scratch dir (ck_tmpdir) made by an
 * unchecked fixture; its teardown runs in the runner process even when a
 * forked test fails, unmounts whatever is still mounted below it and
 * removes it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_tmpdir.h"
#include "gm-smaps.h"
#include "gm-test-util.h"
#include "mem/pool.h"
#include "suites.h"
#include "../../uapi/gmemfs.h"

#define KiB		1024ULL
#define MiB		(1024 * KiB)
#define PAGE		4096ULL
#define P4K		GMEMFS_PROV_SHMEM_4K
#define PTHP		GMEMFS_PROV_SHMEM_THP
#define PKVM		GMEMFS_PROV_KVM_GMEM

/* ---- gm_pool_split arithmetic ---- */

static const bool both[GM_NPROV] = { [P4K] = true, [PTHP] = true };

static uint64_t sum_of(const uint64_t v[GM_NPROV])
{
	uint64_t s = 0;

	for (int i = 0; i < GM_NPROV; i++)
		s += v[i];
	return s;
}

static void assert_sane_split(uint64_t budget, const bool present[GM_NPROV],
			      const uint64_t used[GM_NPROV], const uint64_t target[GM_NPROV])
{
	for (int i = 0; i < GM_NPROV; i++) {
		ck_assert_uint_eq(target[i] % PAGE, 0);
		if (!present[i]) {
			ck_assert_uint_eq(target[i], 0);
			continue;
		}
		ck_assert_uint_ge(target[i], PAGE);
		ck_assert_uint_ge(target[i], used[i]);
	}
	ck_assert_uint_le(sum_of(target), budget);
}

START_TEST(test_split_fresh_pool)
{
	uint64_t used[GM_NPROV] = { 0 }, decl[GM_NPROV] = { 0 }, target[GM_NPROV];

	gm_pool_split(64 * MiB, P4K, both, used, decl, target);
	assert_sane_split(64 * MiB, both, used, target);
	ck_assert_uint_eq(target[PTHP], PAGE);
	ck_assert_uint_eq(target[P4K], 64 * MiB - PAGE);

	gm_pool_split(64 * MiB, PTHP, both, used, decl, target);
	ck_assert_uint_eq(target[P4K], PAGE);
	ck_assert_uint_eq(target[PTHP], 64 * MiB - PAGE);
}
END_TEST

START_TEST(test_split_declared_fit)
{
	uint64_t used[GM_NPROV] = { [P4K] = 8 * MiB, [PTHP] = 2 * MiB };
	uint64_t decl[GM_NPROV] = { [P4K] = 16 * MiB, [PTHP] = 10 * MiB };
	uint64_t target[GM_NPROV];

	/* Each gets its declared size; both hold files, so the 38 MiB
	 * spare is halved whichever is the default. */
	gm_pool_split(64 * MiB, P4K, both, used, decl, target);
	assert_sane_split(64 * MiB, both, used, target);
	ck_assert_uint_eq(target[P4K], 16 * MiB + 19 * MiB);
	ck_assert_uint_eq(target[PTHP], 10 * MiB + 19 * MiB);

	gm_pool_split(64 * MiB, PTHP, both, used, decl, target);
	ck_assert_uint_eq(target[P4K], 16 * MiB + 19 * MiB);
	ck_assert_uint_eq(target[PTHP], 10 * MiB + 19 * MiB);

	/* An odd number of spare pages (9727): the odd one is the default's. */
	decl[PTHP] = 10 * MiB + PAGE;
	gm_pool_split(64 * MiB, P4K, both, used, decl, target);
	assert_sane_split(64 * MiB, both, used, target);
	ck_assert_uint_eq(target[P4K], 16 * MiB + 4863 * PAGE + PAGE);
	ck_assert_uint_eq(target[PTHP], 10 * MiB + PAGE + 4863 * PAGE);
	ck_assert_uint_eq(sum_of(target), 64 * MiB);

	gm_pool_split(64 * MiB, PTHP, both, used, decl, target);
	ck_assert_uint_eq(target[P4K], 16 * MiB + 4863 * PAGE);
	ck_assert_uint_eq(target[PTHP], 10 * MiB + PAGE + 4863 * PAGE + PAGE);

	/* Declared below use (sparse files, or use not yet trimmed): use wins,
	 * leaving 46 MiB spare, not the 47 MiB a 1 MiB need would leave. */
	decl[PTHP] = 1 * MiB;
	gm_pool_split(64 * MiB, P4K, both, used, decl, target);
	ck_assert_uint_eq(target[PTHP], 2 * MiB + 23 * MiB);
	ck_assert_uint_eq(target[P4K], 16 * MiB + 23 * MiB);
}
END_TEST

START_TEST(test_split_overcommit_proportional)
{
	uint64_t used[GM_NPROV] = { [P4K] = 8 * MiB, [PTHP] = 8 * MiB };
	uint64_t decl[GM_NPROV] = { [P4K] = 100 * MiB, [PTHP] = 36 * MiB };
	uint64_t target[GM_NPROV], share4k, sharethp;

	gm_pool_split(64 * MiB, P4K, both, used, decl, target);
	assert_sane_split(64 * MiB, both, used, target);
	ck_assert_uint_eq(sum_of(target), 64 * MiB);
	ck_assert_uint_le(target[PTHP], decl[PTHP]);
	/* 48 MiB free, lacking 92 and 28 MiB: shares of 92/120 and 28/120,
	 * rounded down to pages, the odd page going to the default. */
	share4k = target[P4K] - used[P4K];
	sharethp = target[PTHP] - used[PTHP];
	ck_assert_uint_eq(sharethp, 48 * MiB * 28 / 120 / PAGE * PAGE);
	ck_assert_uint_eq(share4k + sharethp, 48 * MiB);
	ck_assert_uint_le(share4k - 48 * MiB * 92 / 120, PAGE);
}
END_TEST

START_TEST(test_split_page_alignment)
{
	uint64_t used[GM_NPROV] = { [P4K] = 5000, [PTHP] = 1 };
	uint64_t decl[GM_NPROV] = { [P4K] = 4097, [PTHP] = 10000 };
	uint64_t budget = 64 * MiB + 123, target[GM_NPROV];

	/* Needs round up to 2 and 3 pages, the budget down to 16384 pages:
	 * 16379 spare, 8189 each and the odd one to the default. */
	gm_pool_split(budget, P4K, both, used, decl, target);
	assert_sane_split(budget, both, used, target);
	ck_assert_uint_eq(target[P4K], 2 * PAGE + 8189 * PAGE + PAGE);
	ck_assert_uint_eq(target[PTHP], 3 * PAGE + 8189 * PAGE);
	ck_assert_uint_eq(sum_of(target), 64 * MiB);

	gm_pool_split(budget, PTHP, both, used, decl, target);
	assert_sane_split(budget, both, used, target);
	ck_assert_uint_eq(target[P4K], 2 * PAGE + 8189 * PAGE);
	ck_assert_uint_eq(target[PTHP], 3 * PAGE + 8189 * PAGE + PAGE);
}
END_TEST

START_TEST(test_split_declared_unused_shares_spare)
{
	/* shmem-thp has files declared but not yet written: it holds files,
	 * so it gets an equal share of spare.  hugetlb-2m is present with
	 * nothing in it and keeps its one page; hugetlb-1g is absent and gets
	 * nothing, whatever is declared for it. */
	const bool three[GM_NPROV] = { [P4K] = true, [PTHP] = true,
				       [GMEMFS_PROV_HUGETLB_2M] = true };
	uint64_t used[GM_NPROV] = { 0 };
	uint64_t decl[GM_NPROV] = { [PTHP] = 8 * MiB + 1, [GMEMFS_PROV_HUGETLB_1G] = 8 * MiB };
	uint64_t target[GM_NPROV];

	/* Needs of 1, 2049 and 1 pages leave 14333 spare: 7166 each to
	 * shmem-4k (the default) and shmem-thp, the odd one to the default. */
	gm_pool_split(64 * MiB, P4K, three, used, decl, target);
	assert_sane_split(64 * MiB, three, used, target);
	ck_assert_uint_eq(target[P4K], PAGE + 7166 * PAGE + PAGE);
	ck_assert_uint_eq(target[PTHP], 2049 * PAGE + 7166 * PAGE);
	ck_assert_uint_eq(target[GMEMFS_PROV_HUGETLB_2M], PAGE);
	ck_assert_uint_eq(target[GMEMFS_PROV_HUGETLB_1G], 0);
	ck_assert_uint_eq(sum_of(target), 64 * MiB);
}
END_TEST

START_TEST(test_split_never_zero)
{
	/* A third provider, as hugetlb will be: every present one gets a page. */
	const bool three[GM_NPROV] = { [P4K] = true, [PTHP] = true,
				       [GMEMFS_PROV_HUGETLB_2M] = true };
	uint64_t used[GM_NPROV] = { 0 }, decl[GM_NPROV] = { 0 }, target[GM_NPROV];

	gm_pool_split(4 * MiB, PTHP, three, used, decl, target);
	assert_sane_split(4 * MiB, three, used, target);
	ck_assert_uint_eq(target[P4K], PAGE);
	ck_assert_uint_eq(target[GMEMFS_PROV_HUGETLB_2M], PAGE);
	ck_assert_uint_eq(target[PTHP], 4 * MiB - 2 * PAGE);

	/* Overcommitted with nothing free: still a page each, never 0. */
	used[PTHP] = 4 * MiB - 2 * PAGE;
	decl[P4K] = 1 * MiB;
	gm_pool_split(4 * MiB, PTHP, three, used, decl, target);
	assert_sane_split(4 * MiB, three, used, target);
	ck_assert_uint_eq(target[P4K], PAGE);
	ck_assert_uint_eq(sum_of(target), 4 * MiB);
}
END_TEST

START_TEST(test_split_used_over_budget)
{
	uint64_t used[GM_NPROV] = { [P4K] = 40 * MiB, [PTHP] = 30 * MiB + 1 };
	uint64_t decl[GM_NPROV] = { [PTHP] = 64 * MiB }, target[GM_NPROV];

	gm_pool_split(64 * MiB, P4K, both, used, decl, target);
	ck_assert_uint_eq(target[P4K], 40 * MiB);
	ck_assert_uint_eq(target[PTHP], 30 * MiB + PAGE);
}
END_TEST

START_TEST(test_split_huge_declared_no_overflow)
{
	/* A sparse file truncated to the largest size must not wrap sums. */
	uint64_t used[GM_NPROV] = { [P4K] = 1 * MiB, [PTHP] = 1 * MiB };
	uint64_t decl[GM_NPROV] = { [P4K] = UINT64_MAX, [PTHP] = UINT64_MAX };
	uint64_t target[GM_NPROV];

	gm_pool_split(1ULL << 40, P4K, both, used, decl, target);
	assert_sane_split(1ULL << 40, both, used, target);
	ck_assert_uint_eq(sum_of(target), 1ULL << 40);
	ck_assert_uint_le(target[P4K] - target[PTHP], PAGE);
}
END_TEST

/* ---- real tmpfs ---- */

static char tmp_root[64];	/* made and swept in the parent (unchecked fixture) */

static void tmpfs_setup(void)
{
	if (ck_tmpdir_make(tmp_root, sizeof(tmp_root), "pool"))
		tmp_root[0] = '\0';
}

static void tmpfs_teardown(void)
{
	ck_tmpdir_sweep(tmp_root);
}

/* A fresh state dir for one test. */
static void make_state_dir(char *buf, size_t len, const char *name)
{
	ck_assert_msg(tmp_root[0], "the fixture could not make a scratch dir");
	snprintf(buf, len, "%s/%s", tmp_root, name);
	ck_assert_int_eq(mkdir(buf, 0700), 0);
}

static void inst_dir(char *buf, size_t len, const char *state, const struct gm_provider *p)
{
	snprintf(buf, len, "%s/%s", state, p->name);
}

/* Write the pattern from offset 0 until len bytes or the first error;
 * returns bytes written and the error (0 if none). */
static uint64_t write_pattern(int fd, uint64_t len, uint8_t seed, int *err)
{
	static uint8_t buf[1 * MiB];
	uint64_t done = 0;

	*err = 0;
	while (done < len) {
		size_t chunk = len - done < sizeof(buf) ? len - done : sizeof(buf);
		ssize_t n;

		gm_test_fill(buf, done, chunk, seed);
		n = pwrite(fd, buf, chunk, (off_t)done);
		if (n < 0) {
			*err = errno;
			break;
		}
		done += (uint64_t)n;
	}
	return done;
}

static void assert_pattern(int fd, uint64_t len, uint8_t seed)
{
	static uint8_t buf[1 * MiB], want[1 * MiB];

	for (uint64_t off = 0; off < len; off += sizeof(buf)) {
		size_t chunk = len - off < sizeof(buf) ? len - off : sizeof(buf);

		ck_assert_int_eq(pread(fd, buf, chunk, (off_t)off), (ssize_t)chunk);
		gm_test_fill(want, off, chunk, seed);
		ck_assert_msg(memcmp(buf, want, chunk) == 0, "data differs near %" PRIu64, off);
	}
}

static uint64_t mount_id(const char *dir)
{
	struct statx stx;

	ck_assert_int_eq(statx(AT_FDCWD, dir, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx), 0);
	ck_assert(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
	return stx.stx_mnt_id;
}

/* The mountinfo line of the mount visible at dir, into out. */
static void mountinfo_of(const char *dir, char *out, size_t len)
{
	uint64_t id = mount_id(dir);
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	ck_assert_ptr_nonnull(f);
	out[0] = '\0';
	while (getline(&line, &cap, f) > 0) {
		if (strtoull(line, NULL, 10) == id) {
			snprintf(out, len, "%s", line);
			break;
		}
	}
	free(line);
	fclose(f);
	ck_assert_msg(out[0], "mount %" PRIu64 " of %s not in mountinfo", id, dir);
}

static int mounts_at(const char *dir)
{
	char *line = NULL, mnt[4096];
	size_t cap = 0;
	int n = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	ck_assert_ptr_nonnull(f);
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && strcmp(mnt, dir) == 0)
			n++;
	}
	free(line);
	fclose(f);
	return n;
}

static uint64_t sum_limits(const struct gm_pool_usage *u)
{
	uint64_t s = 0;

	for (int i = 0; i < GM_NPROV; i++)
		s += u->prov[i].limit;
	return s;
}

START_TEST(test_pool_kernel_enforces_budget)
{
	uint64_t declared[GM_NPROV] = { 0 }, written;
	struct gm_pool_usage u;
	struct gm_pool pool;
	char state[256];
	int fd, fd2, err;

	make_state_dir(state, sizeof(state), "budget");
	ck_assert_int_eq(gm_pool_init(&pool, state, 64 * MiB, P4K, NULL), 0);

	ck_assert_int_eq(gm_pool_usage(&pool, &u), 0);
	ck_assert_uint_eq(u.budget, 64 * MiB);
	ck_assert_uint_eq(u.used, 0);
	ck_assert_uint_eq(u.free, 64 * MiB);
	ck_assert_uint_eq(u.prov[PTHP].limit, PAGE);
	ck_assert_uint_eq(u.prov[PKVM].limit, PAGE);
	ck_assert_uint_eq(u.prov[GMEMFS_PROV_SHMEM_ADVISE].limit, PAGE);
	ck_assert_uint_eq(u.prov[P4K].limit, 64 * MiB - 3 * PAGE);

	/* tmpfs pages are in the direct map: no secret backing from it. */
	ck_assert_int_eq(gm_prov_shmem_4k.backing_open(gm_pool_inst(&pool, P4K), 0x1234,
						       GM_BACKING_CREATE | GM_BACKING_SECRET),
			 -EOPNOTSUPP);
	fd = gm_prov_shmem_4k.backing_open(gm_pool_inst(&pool, P4K), 0x1234, true);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(write_pattern(fd, 8 * MiB, 1, &err), 8 * MiB);
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(gm_pool_usage(&pool, &u), 0);
	ck_assert_uint_eq(u.prov[P4K].used, 8 * MiB);
	ck_assert_uint_eq(u.used, 8 * MiB);
	ck_assert_uint_eq(u.free, 56 * MiB);

	/* Past the budget the kernel says no, and what is stored stays. */
	written = write_pattern(fd, 128 * MiB, 1, &err);
	ck_assert_int_eq(err, ENOSPC);
	ck_assert_uint_eq(written, 64 * MiB - 3 * PAGE);
	assert_pattern(fd, 8 * MiB, 1);
	ck_assert_int_eq(ftruncate(fd, 8 * MiB), 0);

	/* Room moves to shmem-thp for the 16 MiB its files declare. */
	declared[P4K] = 8 * MiB;
	declared[PTHP] = 16 * MiB;
	ck_assert_int_eq(gm_pool_rebalance(&pool, declared), 0);
	ck_assert_int_eq(gm_pool_usage(&pool, &u), 0);
	/* 8 and 16 MiB needed (and kvm-gmem's and shmem-advise's page), the
	 * 10238 spare pages halved between them. */
	ck_assert_uint_eq(u.prov[P4K].limit, 8 * MiB + 5119 * PAGE);
	ck_assert_uint_eq(u.prov[PTHP].limit, 16 * MiB + 5119 * PAGE);
	ck_assert_uint_le(sum_limits(&u), 64 * MiB);
	ck_assert_uint_eq(gm_pool_inst(&pool, PTHP)->limit, u.prov[PTHP].limit);

	fd2 = gm_prov_shmem_thp.backing_open(gm_pool_inst(&pool, PTHP), 0x99, true);
	ck_assert_int_ge(fd2, 0);
	ck_assert_uint_eq(write_pattern(fd2, 16 * MiB, 2, &err), 16 * MiB);
	ck_assert_int_eq(err, 0);
	/* ... and shmem-4k can no longer take the whole budget. */
	written = write_pattern(fd, 64 * MiB, 1, &err);
	ck_assert_int_eq(err, ENOSPC);
	ck_assert_uint_eq(written, 64 * MiB - u.prov[PTHP].limit - u.prov[PKVM].limit -
				   u.prov[GMEMFS_PROV_SHMEM_ADVISE].limit);
	assert_pattern(fd2, 16 * MiB, 2);

	close(fd2);
	close(fd);
	gm_pool_fini(&pool);
}
END_TEST

START_TEST(test_pool_restart_reuses_stores)
{
	uint64_t declared[GM_NPROV] = { 0 }, id4k, idthp;
	struct gm_pool_usage u;
	struct gm_pool pool;
	char state[256], d4k[300], dthp[300];
	int fd, err;

	make_state_dir(state, sizeof(state), "restart");
	inst_dir(d4k, sizeof(d4k), state, &gm_prov_shmem_4k);
	inst_dir(dthp, sizeof(dthp), state, &gm_prov_shmem_thp);
	ck_assert_int_eq(gm_pool_init(&pool, state, 64 * MiB, P4K, NULL), 0);
	fd = gm_prov_shmem_4k.backing_open(gm_pool_inst(&pool, P4K), 7, true);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(write_pattern(fd, 8 * MiB, 3, &err), 8 * MiB);
	close(fd);
	ck_assert_uint_eq(gm_pool_inst(&pool, P4K)->limit, 64 * MiB - 3 * PAGE);
	id4k = mount_id(d4k);
	idthp = mount_id(dthp);
	gm_pool_fini(&pool);

	/* Detach leaves the stores mounted with their contents. */
	ck_assert_int_eq(mounts_at(d4k), 1);
	ck_assert_uint_eq(mount_id(d4k), id4k);

	/* The restarted pool shares the room with shmem-thp, its default: it
	 * must shrink the reused shmem-4k, not stack a new mount.  Needs of
	 * 2048, 1, 1 (kvm-gmem) and 1 (shmem-advise) pages leave 14333 spare:
	 * 7166 each, the odd one to the default. */
	ck_assert_int_eq(gm_pool_init(&pool, state, 64 * MiB, PTHP, NULL), 0);
	ck_assert_uint_eq(mount_id(d4k), id4k);
	ck_assert_uint_eq(mount_id(dthp), idthp);
	ck_assert_int_eq(mounts_at(d4k), 1);
	ck_assert_int_eq(mounts_at(dthp), 1);
	ck_assert_int_eq(gm_pool_usage(&pool, &u), 0);
	ck_assert_uint_eq(u.used, 8 * MiB);
	ck_assert_uint_eq(u.prov[P4K].limit, 8 * MiB + 7166 * PAGE);
	ck_assert_uint_eq(u.prov[PTHP].limit, PAGE + 7167 * PAGE);

	/* shmem-thp's files claim the rest: the reused store goes down to
	 * its use, still in place. */
	declared[PTHP] = 56 * MiB;
	ck_assert_int_eq(gm_pool_rebalance(&pool, declared), 0);
	ck_assert_uint_eq(mount_id(d4k), id4k);
	ck_assert_int_eq(mounts_at(d4k), 1);
	ck_assert_int_eq(gm_pool_usage(&pool, &u), 0);
	ck_assert_uint_eq(u.prov[P4K].limit, 8 * MiB);
	ck_assert_uint_eq(u.prov[PTHP].limit, 56 * MiB - 2 * PAGE);

	fd = gm_prov_shmem_4k.backing_open(gm_pool_inst(&pool, P4K), 7, false);
	ck_assert_int_ge(fd, 0);
	assert_pattern(fd, 8 * MiB, 3);
	close(fd);
	gm_pool_fini(&pool);
}
END_TEST

/* Map len bytes of fd shared at a 2 MiB-aligned address, so every huge
 * page of the file can be mapped by a PMD: carved out of a larger
 * reservation. */
static uint8_t *map_huge_aligned(int fd, uint64_t len)
{
	const uint64_t align = 2 * MiB;
	uint8_t *r, *a, *p;

	r = mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	ck_assert(r != MAP_FAILED);
	a = (uint8_t *)(((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1));
	if (a > r)
		ck_assert_int_eq(munmap(r, (size_t)(a - r)), 0);
	if (a + len < r + len + align)
		ck_assert_int_eq(munmap(a + len, (size_t)(r + len + align - (a + len))), 0);
	p = mmap(a, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	ck_assert(p == a);
	return p;
}

static long touch_and_measure_pmd(struct gm_prov_inst *pi, uint64_t id, uint64_t len)
{
	uint8_t *p;
	long kb;
	int fd;

	fd = pi->prov->backing_open(pi, id, true);
	ck_assert_int_ge(fd, 0);
	/* within_size: only ranges inside i_size may get huge pages. */
	ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
	p = map_huge_aligned(fd, len);
	memset(p, 0x5a, len);
	kb = gm_smaps_kb(p, "ShmemPmdMapped");
	munmap(p, len);
	close(fd);
	return kb;
}

START_TEST(test_thp_store_uses_huge_pages)
{
	uint64_t declared[GM_NPROV] = { [PTHP] = 8 * MiB };
	struct gm_pool pool;
	char state[256], dir[300], info[4096];
	long kb;

	make_state_dir(state, sizeof(state), "thp");
	ck_assert_int_eq(gm_pool_init(&pool, state, 64 * MiB, P4K, NULL), 0);
	ck_assert_int_eq(gm_pool_rebalance(&pool, declared), 0);

	inst_dir(dir, sizeof(dir), state, &gm_prov_shmem_thp);
	mountinfo_of(dir, info, sizeof(info));
	ck_assert_msg(strstr(info, " - tmpfs ") && strstr(info, ",huge=within_size"),
		      "thp store: %s", info);
	inst_dir(dir, sizeof(dir), state, &gm_prov_shmem_4k);
	mountinfo_of(dir, info, sizeof(info));
	ck_assert_msg(strstr(info, " - tmpfs ") && !strstr(info, "huge="),
		      "4k store shows a huge= other than never: %s", info);

	/* The page size the kernel actually mapped. */
	kb = touch_and_measure_pmd(gm_pool_inst(&pool, PTHP), 1, 4 * MiB);
	printf("shmem-thp: ShmemPmdMapped %ld kB of 4096 (global shmem_enabled "
	       "does not govern tmpfs mounts)\n", kb);
	ck_assert_int_eq(kb, 4096);
	ck_assert_int_eq(touch_and_measure_pmd(gm_pool_inst(&pool, P4K), 1, 4 * MiB), 0);
	gm_pool_fini(&pool);
}
END_TEST

START_TEST(test_reuse_restores_huge_option)
{
	char state[256], dir[300], info[4096];
	struct gm_pool pool;
	uint64_t id;
	int fd, err;

	make_state_dir(state, sizeof(state), "rehuge");
	inst_dir(dir, sizeof(dir), state, &gm_prov_shmem_thp);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(mount("other", dir, "tmpfs", 0, "size=1m,huge=never"), 0);
	id = mount_id(dir);
	snprintf(info, sizeof(info), "%s/00000000000000ab", dir);
	fd = open(info, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(write_pattern(fd, 512 * KiB, 4, &err), 512 * KiB);
	close(fd);

	ck_assert_int_eq(gm_pool_init(&pool, state, 64 * MiB, P4K, NULL), 0);
	ck_assert_uint_eq(mount_id(dir), id);
	mountinfo_of(dir, info, sizeof(info));
	ck_assert_msg(strstr(info, ",huge=within_size"), "not fixed: %s", info);
	/* Holding files, shmem-thp shares spare with the default: needs of 1,
	 * 128, 1 (kvm-gmem) and 1 (shmem-advise) pages leave 16253, 8126 each
	 * and the odd one to the default. */
	ck_assert_uint_eq(gm_pool_inst(&pool, PTHP)->limit, 512 * KiB + 8126 * PAGE);
	ck_assert_uint_eq(gm_pool_inst(&pool, P4K)->limit, PAGE + 8127 * PAGE);
	fd = gm_prov_shmem_thp.backing_open(gm_pool_inst(&pool, PTHP), 0xab, false);
	ck_assert_int_ge(fd, 0);
	assert_pattern(fd, 512 * KiB, 4);
	close(fd);
	gm_pool_fini(&pool);
}
END_TEST

START_TEST(test_reuse_refuses_unlimited_tmpfs)
{
	char state[256], dir[300], other[320];
	struct gm_pool pool;

	make_state_dir(state, sizeof(state), "unlimited");
	inst_dir(dir, sizeof(dir), state, &gm_prov_shmem_4k);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	/* size=0 is tmpfs for "no limit", which no remount can take back. */
	ck_assert_int_eq(mount("other", dir, "tmpfs", 0, "size=0"), 0);
	ck_assert_int_eq(gm_pool_init(&pool, state, 64 * MiB, P4K, NULL), -EINVAL);
	ck_assert_int_eq(mounts_at(dir), 1);

	/* Nor is a subtree of some other tmpfs adopted: resizing it would
	 * resize that other filesystem. */
	ck_assert_int_eq(umount2(dir, MNT_DETACH), 0);
	ck_assert_int_eq(mount("other", dir, "tmpfs", 0, "size=1m"), 0);
	snprintf(other, sizeof(other), "%s/sub", dir);
	ck_assert_int_eq(mkdir(other, 0700), 0);
	ck_assert_int_eq(mount(other, dir, NULL, MS_BIND, NULL), 0);
	ck_assert_int_eq(gm_pool_init(&pool, state, 64 * MiB, P4K, NULL), -EBUSY);
	ck_assert_int_eq(mounts_at(dir), 2);
}
END_TEST

/*
 * A store that grows between the pool reading its use and shrinking it,
 * every time, as a guest faulting at the wrong moment would: a shmem-4k
 * whose set_limit first adds 1 MiB to a file when asked to shrink.
 */
static struct {
	int fd;
	int grow_times;
} racer;

static int racy_set_limit(struct gm_prov_inst *pi, uint64_t bytes)
{
	struct stat st;

	if (bytes < pi->limit && racer.grow_times > 0) {
		racer.grow_times--;
		ck_assert_int_eq(fstat(racer.fd, &st), 0);
		ck_assert_int_eq(posix_fallocate(racer.fd, st.st_size, 1 * MiB), 0);
	}
	return prov_tmpfs_set_limit(pi, bytes);
}

static void assert_limits_match_kernel(struct gm_pool *pool)
{
	struct gm_pool_usage u;

	ck_assert_int_eq(gm_pool_usage(pool, &u), 0);
	ck_assert_uint_le(sum_limits(&u), pool->budget);
	for (int p = 0; p < GM_NPROV; p++) {
		struct gm_prov_inst *pi = gm_pool_inst(pool, p);
		uint64_t used, limit;

		if (!pi)
			continue;
		ck_assert_int_eq(prov_tmpfs_usage(pi, &used, &limit), 0);
		ck_assert_uint_eq(pi->limit, limit);
		ck_assert_uint_ge(limit, used);
	}
}

START_TEST(test_rebalance_retries_lost_shrink)
{
	uint64_t declared[GM_NPROV] = { [P4K] = 32 * MiB };
	struct gm_provider racy = gm_prov_shmem_4k;
	struct gm_prov_inst *pi, *thp;
	struct gm_pool pool;
	char state[256];

	make_state_dir(state, sizeof(state), "retry");
	ck_assert_int_eq(gm_pool_init(&pool, state, 64 * MiB, PTHP, NULL), 0);
	pi = gm_pool_inst(&pool, P4K);
	thp = gm_pool_inst(&pool, PTHP);
	/* 32 MiB declared plus half of the 8189 spare pages (kvm-gmem and
	 * shmem-advise keep their one; the odd one goes to the default). */
	ck_assert_int_eq(gm_pool_rebalance(&pool, declared), 0);
	ck_assert_uint_eq(pi->limit, 32 * MiB + 4094 * PAGE);
	ck_assert_uint_eq(thp->limit, PAGE + 4095 * PAGE);
	racer.fd = pi->prov->backing_open(pi, 0x42, true);
	ck_assert_int_ge(racer.fd, 0);
	ck_assert_int_eq(posix_fallocate(racer.fd, 0, 4 * MiB), 0);
	racy.set_limit = racy_set_limit;
	pi->prov = &racy;

	/* shmem-thp's files declare the whole budget, so shmem-4k is cut to
	 * its use, no spare left: the tightest shrink, which the store's
	 * growth outruns.  Twice outrun, then the third computation from
	 * fresh use holds. */
	racer.grow_times = 2;
	declared[P4K] = 0;
	declared[PTHP] = 64 * MiB;
	ck_assert_int_eq(gm_pool_rebalance(&pool, declared), 0);
	ck_assert_int_eq(racer.grow_times, 0);
	ck_assert_uint_eq(pi->limit, 6 * MiB);
	ck_assert_uint_eq(thp->limit, 58 * MiB - 2 * PAGE);
	assert_limits_match_kernel(&pool);

	/* Always outrun: a bounded number of tries, then the kernel's error,
	 * with no grow applied past the budget. */
	declared[P4K] = 32 * MiB;
	declared[PTHP] = 0;
	ck_assert_int_eq(gm_pool_rebalance(&pool, declared), 0);
	ck_assert_uint_eq(pi->limit, 32 * MiB + 4094 * PAGE);
	ck_assert_uint_eq(thp->limit, PAGE + 4095 * PAGE);
	racer.grow_times = 100;
	declared[P4K] = 0;
	declared[PTHP] = 64 * MiB;
	ck_assert_int_eq(gm_pool_rebalance(&pool, declared), -EINVAL);
	ck_assert_int_gt(racer.grow_times, 90);
	ck_assert_uint_eq(pi->limit, 32 * MiB + 4094 * PAGE);
	ck_assert_uint_eq(thp->limit, PAGE + 4095 * PAGE);
	assert_limits_match_kernel(&pool);

	pi->prov = &gm_prov_shmem_4k;
	close(racer.fd);
	gm_pool_fini(&pool);
}
END_TEST

struct grower {
	struct gm_prov_inst *pi;
	atomic_bool stop;
	unsigned rounds;
};

/* Faults do not ask the daemon: a store grows while limits move. */
static void *grow_store(void *arg)
{
	struct grower *g = arg;
	int fd = g->pi->prov->backing_open(g->pi, 0x77, true);

	if (fd < 0)
		return NULL;
	while (!atomic_load(&g->stop)) {
		for (off_t off = 0; off < (off_t)(24 * MiB); off += 256 * KiB) {
			if (posix_fallocate(fd, off, 256 * KiB))
				break;
		}
		if (ftruncate(fd, 0))
			break;
		g->rounds++;
	}
	close(fd);
	return NULL;
}

START_TEST(test_rebalance_races_growing_store)
{
	struct grower g = { .rounds = 0 };
	uint64_t declared[GM_NPROV] = { 0 };
	struct gm_pool_usage u;
	struct gm_pool pool;
	char state[256];
	pthread_t thr;
	const int rounds = 2000;
	int ok = 0;

	make_state_dir(state, sizeof(state), "race");
	ck_assert_int_eq(gm_pool_init(&pool, state, 64 * MiB, P4K, NULL), 0);
	g.pi = gm_pool_inst(&pool, P4K);
	atomic_init(&g.stop, false);
	ck_assert_int_eq(pthread_create(&thr, NULL, grow_store, &g), 0);
	for (int i = 0; i < rounds; i++) {
		int err;

		/* Every other time shmem-4k is cut to its use, the tightest
		 * shrink there is, which a concurrent fallocate can outrun. */
		declared[PTHP] = i % 2 ? 64 * MiB : 0;
		err = gm_pool_rebalance(&pool, declared);
		ck_assert_msg(err == 0 || err == -EINVAL, "rebalance: %d", err);
		ok += err == 0;
		ck_assert_int_eq(gm_pool_usage(&pool, &u), 0);
		ck_assert_uint_le(sum_limits(&u), 64 * MiB);
		for (int p = 0; p < GM_NPROV; p++)
			ck_assert_uint_eq(u.prov[p].limit, pool.inst[p].limit);
	}
	atomic_store(&g.stop, true);
	pthread_join(thr, NULL);
	printf("rebalance under a growing store: %d of %d settled, %u fill rounds\n",
	       ok, rounds, g.rounds);
	ck_assert_int_gt(ok, 0);
	gm_pool_fini(&pool);
}
END_TEST

struct seen_ids {
	uint64_t ids[8];
	int n;
};

static int record_id(void *ctx, uint64_t id)
{
	struct seen_ids *s = ctx;

	ck_assert_int_lt(s->n, 8);
	s->ids[s->n++] = id;
	return 0;
}

static int stop_at_first(void *ctx, uint64_t id)
{
	(void)ctx;
	(void)id;
	return -ECANCELED;
}

START_TEST(test_backing_objects_by_id)
{
	struct seen_ids seen = { .n = 0 };
	char state[256], path[400];
	struct gm_prov_inst *pi;
	struct gm_pool pool;
	uint64_t used, limit;
	int fd;

	make_state_dir(state, sizeof(state), "names");
	ck_assert_int_eq(gm_pool_init(&pool, state, 16 * MiB, P4K, NULL), 0);
	pi = gm_pool_inst(&pool, P4K);
	ck_assert_ptr_null(gm_pool_inst(&pool, GMEMFS_PROV_HUGETLB_2M));
	ck_assert_ptr_null(gm_pool_inst(&pool, 1000));

	fd = pi->prov->backing_open(pi, 0xfedcba9876543210ULL, true);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(pi->prov->backing_open(pi, 0xfedcba9876543210ULL, true), -EEXIST);
	ck_assert_int_eq(pi->prov->backing_open(pi, 5, false), -ENOENT);
	snprintf(path, sizeof(path), "%s/shmem-4k/fedcba9876543210", state);
	ck_assert_int_eq(access(path, F_OK), 0);
	fd = pi->prov->backing_open(pi, 5, true);
	ck_assert_int_ge(fd, 0);
	close(fd);

	/* Names the daemon never makes are not backing objects. */
	snprintf(path, sizeof(path), "%s/shmem-4k/FEDCBA9876543211", state);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	snprintf(path, sizeof(path), "%s/shmem-4k/notes", state);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	snprintf(path, sizeof(path), "%s/shmem-4k/00000000000000077", state);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	snprintf(path, sizeof(path), "%s/shmem-4k/0000000000000009", state);
	ck_assert_int_eq(mkdir(path, 0700), 0);

	ck_assert_int_eq(pi->prov->for_each_backing(pi, record_id, &seen), 0);
	ck_assert_int_eq(seen.n, 2);
	ck_assert(seen.ids[0] + seen.ids[1] == 0xfedcba9876543210ULL + 5);
	ck_assert_int_eq(pi->prov->for_each_backing(pi, stop_at_first, NULL), -ECANCELED);

	ck_assert_int_eq(pi->prov->backing_unlink(pi, 5), 0);
	ck_assert_int_eq(pi->prov->backing_unlink(pi, 5), -ENOENT);

	/* Below use tmpfs refuses, and 0 is never passed on as "unlimited". */
	fd = pi->prov->backing_open(pi, 6, true);
	ck_assert_int_eq(posix_fallocate(fd, 0, 1 * MiB), 0);
	close(fd);
	ck_assert_int_eq(pi->prov->set_limit(pi, 512 * KiB), -EINVAL);
	ck_assert_int_eq(pi->prov->usage(pi, &used, &limit), 0);
	ck_assert_uint_eq(used, 1 * MiB);
	ck_assert_uint_eq(limit, pi->limit);
	ck_assert_int_eq(pi->prov->backing_unlink(pi, 6), 0);
	ck_assert_int_eq(pi->prov->set_limit(pi, 0), 0);
	ck_assert_int_eq(pi->prov->usage(pi, &used, &limit), 0);
	ck_assert_uint_eq(limit, PAGE);
	ck_assert_uint_eq(pi->limit, PAGE);
	gm_pool_fini(&pool);
}
END_TEST

START_TEST(test_init_rejects_bad_arguments)
{
	struct gm_pool pool;

	ck_assert_int_eq(gm_pool_init(&pool, "/nonexistent", 64 * MiB, GMEMFS_PROV_SHMEM_ADVISE + 1, NULL),
			 -EINVAL);
	ck_assert_int_eq(gm_pool_init(&pool, "/nonexistent", PAGE, P4K, NULL), -EINVAL);
}
END_TEST

Suite *make_pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *split = tcase_create("split");
	TCase *tmpfs = tcase_create("tmpfs");

	tcase_add_test(split, test_split_fresh_pool);
	tcase_add_test(split, test_split_declared_fit);
	tcase_add_test(split, test_split_overcommit_proportional);
	tcase_add_test(split, test_split_page_alignment);
	tcase_add_test(split, test_split_declared_unused_shares_spare);
	tcase_add_test(split, test_split_never_zero);
	tcase_add_test(split, test_split_used_over_budget);
	tcase_add_test(split, test_split_huge_declared_no_overflow);
	tcase_add_test(split, test_init_rejects_bad_arguments);
	suite_add_tcase(s, split);

	tcase_add_unchecked_fixture(tmpfs, tmpfs_setup, tmpfs_teardown);
	tcase_set_timeout(tmpfs, 60);
	tcase_add_test(tmpfs, test_pool_kernel_enforces_budget);
	tcase_add_test(tmpfs, test_pool_restart_reuses_stores);
	tcase_add_test(tmpfs, test_thp_store_uses_huge_pages);
	tcase_add_test(tmpfs, test_reuse_restores_huge_option);
	tcase_add_test(tmpfs, test_reuse_refuses_unlimited_tmpfs);
	tcase_add_test(tmpfs, test_backing_objects_by_id);
	tcase_add_test(tmpfs, test_rebalance_retries_lost_shrink);
	tcase_add_test(tmpfs, test_rebalance_races_growing_store);
	suite_add_tcase(s, tmpfs);
	return s;
}
