/*
 * Unit tests of mem/backing.c on a real state directory: the running sums
 * of declared bytes each provider keeps (pi->declared) against what a walk
 * of the stores' files says, through size changes, fallocate, daemon
 * writes, moves between providers, unlink and restart; and the backing
 * fds, open only while used or among a store's few most recently idle,
 * so more files than RLIMIT_NOFILE allows fds still work and come back
 * after a restart.  Needs root (the pool mounts
 * tmpfs; check_all.c does not run without it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_tmpdir.h"
#include "fixture.h"
#include "mem/backing.h"
#include "meta/namespace.h"
#include "meta/recover.h"
#include "suites.h"

#define KiB	1024ULL
#define MiB	(1024 * KiB)

static char base[64];		/* per run; swept by the parent (teardown_run) */
static char state[128];
static struct gm_opts opts;
static struct gm_fs fs;

static void setup_run(void)
{
	ck_assert_int_eq(ck_tmpdir_make(base, sizeof(base), "backing"), 0);
}

static void teardown_run(void)
{
	ck_tmpdir_sweep(base);
}

static void setup(void)
{
	ck_fs_opts(base, state, sizeof(state), &opts, 64 * MiB);
	ck_fs_up(&fs, &opts);
}

static void teardown(void)
{
	gm_fs_teardown(&fs);
	ck_tmpdir_sweep(state);
}

static struct gm_inode *mk(const char *name)
{
	struct gm_new_args a = { .name = name, .mode = S_IFREG | 0600 };
	struct gm_inode *inode = NULL;

	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &inode), 0);
	gm_fs_put(&fs, inode);	/* the dentry keeps it */
	return inode;
}

static struct gm_inode *at(const char *name)
{
	struct gm_inode *inode = gm_dentry_lookup(&fs.it, fs.root->ino, name);

	ck_assert_ptr_nonnull(inode);
	gm_fs_put(&fs, inode);
	return inode;
}

static uint64_t sum_of(uint32_t prov)
{
	return atomic_load(&fs.pool.inst[prov].declared);
}

/* What a walk of a store's backing files declares, as the pool used to
 * compute it on every size change. */
static uint64_t walk_of(uint32_t prov)
{
	char dir[256];
	struct dirent *de;
	uint64_t sum = 0;
	struct stat st;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", state, gmemfs_prov_name(prov));
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 16 || fstatat(dirfd(d), de->d_name, &st, 0))
			continue;
		sum += gm_backing_declared(&st);
	}
	closedir(d);
	return sum;
}

static void assert_sums_match_walk(void)
{
	for (uint32_t p = 0; p < GM_NPROV; p++) {
		if (!fs.pool.inst[p].prov || fs.pool.inst[p].prov->id == GMEMFS_PROV_SHIM)
			continue;
		ck_assert_msg(sum_of(p) == walk_of(p), "%s: sum %llu, walk %llu",
			      gmemfs_prov_name(p), (unsigned long long)sum_of(p),
			      (unsigned long long)walk_of(p));
	}
}

static int open_fds(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/proc/self/fd");

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the DIR's own */
}

START_TEST(test_sums_follow_daemon_changes)
{
	uint32_t adv = GMEMFS_PROV_SHMEM_ADVISE, k4 = GMEMFS_PROV_SHMEM_4K;
	struct gm_inode *a = mk("a"), *b = mk("b"), *c = mk("c");
	char buf[8192];

	/* An empty file counts one page. */
	ck_assert_uint_eq(a->pi->prov->id, adv);
	ck_assert_uint_eq(sum_of(adv), 3 * 4096);
	ck_assert_int_eq(gm_backing_set_size(&fs, a, 1 * MiB), 0);
	ck_assert_uint_eq(sum_of(adv), 1 * MiB + 2 * 4096);
	ck_assert_int_eq(gm_backing_fallocate(&fs, b, FALLOC_FL_KEEP_SIZE, 0, 256 * KiB), 0);
	ck_assert_uint_eq(b->declared, 256 * KiB);
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(gm_backing_write(&fs, c, buf, sizeof(buf), 0), sizeof(buf));
	ck_assert_uint_eq(c->declared, sizeof(buf));
	assert_sums_match_walk();

	/* A shrink, a punched hole, a move to another provider. */
	ck_assert_int_eq(gm_backing_set_size(&fs, a, 4096), 0);
	ck_assert_int_eq(gm_backing_fallocate(&fs, b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					      0, 256 * KiB), 0);
	ck_assert_uint_eq(b->declared, 4096);
	mk("d");
	ck_assert_int_eq(gm_ns_set_policy(&fs, at("d"), GM_PS_4K), 0);
	ck_assert_uint_eq(sum_of(k4), 4096);
	assert_sums_match_walk();

	/* Unlink frees the file's count. */
	ck_assert_int_eq(gm_ns_unlink(&fs, fs.root, "c", false, 0), 0);
	ck_assert_uint_eq(sum_of(adv), 4096 + 4096);
	ck_assert_int_eq(gm_ns_unlink(&fs, fs.root, "d", false, 0), 0);
	ck_assert_uint_eq(sum_of(k4), 0);
	assert_sums_match_walk();
}
END_TEST

/* Passthrough writes and faults grow a backing behind the daemon's back:
 * the sum learns at the file's next stat, and the store's use covers it
 * until then. */
START_TEST(test_sums_learn_at_stat)
{
	struct gm_inode *f = mk("f");
	char path[256];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/shmem-advise/%016llx", state,
		 (unsigned long long)f->ino);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fallocate(fd, 0, 0, 2 * MiB), 0);
	close(fd);
	ck_assert_uint_eq(sum_of(GMEMFS_PROV_SHMEM_ADVISE), 4096);
	ck_assert_int_eq(gm_backing_stat(f, &st), 0);
	ck_assert_uint_eq(sum_of(GMEMFS_PROV_SHMEM_ADVISE), 2 * MiB);
	assert_sums_match_walk();
}
END_TEST

START_TEST(test_sums_rebuilt_at_restart)
{
	char name[16];

	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ck_assert_int_eq(gm_backing_set_size(&fs, mk(name), (uint64_t)(i + 1) * 64 * KiB),
				 0);
	}
	assert_sums_match_walk();
	gm_fs_teardown(&fs);
	ck_fs_up(&fs, &opts);
	assert_sums_match_walk();
	ck_assert_uint_eq(at("f19")->declared, 20 * 64 * KiB);
}
END_TEST

/* A file nobody uses holds no fd, but for the store's few most recently
 * idle ones: a use reopens it, the last put lists it, and a newer idle
 * file pushes the oldest out. */
START_TEST(test_idle_fds_bounded)
{
	struct gm_prov_inst *pi = &fs.pool.inst[GMEMFS_PROV_SHMEM_ADVISE];
	int before = open_fds(), fd;
	struct gm_inode *f = mk("f"), *g;
	char name[16];
	struct stat st;

	ck_assert_uint_gt(pi->max_idle, 0);
	ck_assert_int_eq(f->backing_fd, -1);		/* a create keeps none */
	ck_assert_int_eq(gm_backing_set_size(&fs, f, 1 * MiB), 0);
	ck_assert(f->idle);
	fd = f->backing_fd;
	ck_assert_int_ge(fd, 0);

	pthread_mutex_lock(&f->lock);
	ck_assert_int_eq(gm_backing_fd_get(f), fd);	/* the idle fd, no reopen */
	ck_assert(!f->idle);
	ck_assert_int_eq(gm_backing_fd_get(f), fd);	/* a second use shares it */
	gm_backing_fd_put(f);
	ck_assert(!f->idle);
	ck_assert_int_eq(ftruncate(fd, 3 * MiB), 0);
	gm_backing_fd_put(f);				/* the last: counts, lists */
	pthread_mutex_unlock(&f->lock);
	ck_assert(f->idle);
	ck_assert_uint_eq(f->declared, 3 * MiB);

	/* max_idle newer idle files push f out and close its fd. */
	for (unsigned i = 0; i < pi->max_idle; i++) {
		snprintf(name, sizeof(name), "g%u", i);
		ck_assert_int_eq(gm_backing_set_size(&fs, mk(name), 4096), 0);
	}
	ck_assert_uint_eq(pi->nidle, pi->max_idle);
	ck_assert(!f->idle);
	ck_assert_int_eq(f->backing_fd, -1);
	ck_assert_int_eq(open_fds(), before + (int)pi->max_idle);
	ck_assert_int_eq(gm_backing_stat(f, &st), 0);	/* by name */
	ck_assert_int_eq(st.st_size, 3 * MiB);

	/* Unlinking an idle file takes it off the list, with its fd. */
	g = at("g0");
	ck_assert(g->idle);
	ck_assert_int_eq(gm_ns_unlink(&fs, fs.root, "g0", false, 0), 0);
	ck_assert_uint_eq(pi->nidle, pi->max_idle - 1);
	ck_assert_int_eq(open_fds(), before + (int)pi->max_idle - 1);
}
END_TEST

/* More files than the fd limit: each is created, sized and written, and
 * every one's contents are back after a restart. */
START_TEST(test_files_beyond_fd_limit)
{
	struct rlimit rl = { .rlim_cur = 64 }, old;
	char name[16];
	uint64_t v;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl.rlim_max = old.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	/* The idle fds a store keeps are a share of the limit at start. */
	gm_fs_teardown(&fs);
	ck_fs_up(&fs, &opts);
	ck_assert_uint_le(fs.pool.inst[GMEMFS_PROV_SHMEM_ADVISE].max_idle, 2);
	for (uint64_t i = 0; i < 300; i++) {
		struct gm_inode *f;

		snprintf(name, sizeof(name), "f%llu", (unsigned long long)i);
		f = mk(name);
		ck_assert_int_eq(gm_backing_set_size(&fs, f, 8 * KiB), 0);
		ck_assert_int_eq(gm_backing_write(&fs, f, &i, sizeof(i), 4096), sizeof(i));
	}
	gm_fs_teardown(&fs);
	ck_fs_up(&fs, &opts);
	for (uint64_t i = 0; i < 300; i += 7) {
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)i);
		ck_assert_int_eq(gm_backing_read(at(name), &v, sizeof(v), 4096), sizeof(v));
		ck_assert_uint_eq(v, i);
	}
	assert_sums_match_walk();
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
}
END_TEST

Suite *make_backing_suite(void)
{
	Suite *s = suite_create("backing");
	TCase *tc = tcase_create("sums and fds");

	tcase_add_unchecked_fixture(tc, setup_run, teardown_run);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sums_follow_daemon_changes);
	tcase_add_test(tc, test_sums_learn_at_stat);
	tcase_add_test(tc, test_sums_rebuilt_at_restart);
	tcase_add_test(tc, test_idle_fds_bounded);
	tcase_add_test(tc, test_files_beyond_fd_limit);
	suite_add_tcase(s, tc);
	return s;
}
