/*
 * Unit tests of the hugetlb providers through gmcore, on real hugetlbfs
 * mounts with huge pages the pool adds to the kernel's pool: the pages
 * are added and given back exactly, the store's size is carved out of the
 * budget, files get huge pages (smaps KernelPageSize of the fd
 * gm_handout_open hands out), policies with fallbacks and auto choose by
 * size and room, and a restart finds files where auto put them.
 *
 * Each test that starts a pool records the pages it added in a file of
 * the suite's scratch dir until its teardown has given them back; should a
 * forked test die in between, the runner gives back what such records
 * still hold (never a figure read from the shared knob, which other users
 * of the machine move too).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hugepages.h"
#include "mem/backing.h"
#include "ck_tmpdir.h"
#include "fixture.h"
#include "gm-smaps.h"
#include "gm-test-util.h"
#include "mem/handout.h"
#include "meta/namespace.h"
#include "meta/recover.h"
#include "suites.h"

#define MiB		(1024ULL * 1024)
#define GiB		(1024 * MiB)
#define KNOB_2M		"/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define SURPLUS_2M	"/sys/kernel/mm/hugepages/hugepages-2048kB/surplus_hugepages"
#define KNOB_1G		"/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"

static char base[64];

/* The kernel's huge-page counts when the suite started. */
static long run_knob_2m = -1, run_knob_1g = -1;
static long knob_read(const char *path);

static void setup_run(void)
{
	if (ck_tmpdir_make(base, sizeof(base), "hugetlb"))
		base[0] = '\0';
	run_knob_2m = knob_read(KNOB_2M);
	run_knob_1g = knob_read(KNOB_1G);
}

static long knob_read(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "re");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* What the state dir records as added to the kernel's 2 MiB pool. */
static long owed_2m(const char *state)
{
	long owed = -1;

	ck_assert_int_eq(gm_hugepages_owed_get(state, 2 * MiB, &owed), 0);
	return owed;
}

static void knob_add(const char *path, long delta)
{
	long now = knob_read(path);
	FILE *f;

	if (now < 0 || !delta)
		return;
	f = fopen(path, "we");
	if (f) {
		fprintf(f, "%ld\n", now + delta);
		fclose(f);
	}
}

/* The record of a live pool's added pages: "<2M> <1G>". */
static void pending_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/pending-%d", base, (int)getpid());
}

/* Runs in the runner: records left by tests that died with a live pool. */
static void give_back_pending(void)
{
	char path[512];
	struct dirent *de;
	long n2m, n1g;
	DIR *d = base[0] ? opendir(base) : NULL;

	while (d && (de = readdir(d)) != NULL) {
		FILE *f;

		if (strncmp(de->d_name, "pending-", 8) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%ld %ld", &n2m, &n1g) == 2) {
			fprintf(stderr, "check_prov_hugetlb: a test died with %ld 2M and %ld 1G "
				"pages added: giving them back\n", n2m, n1g);
			knob_add(KNOB_2M, -n2m);
			knob_add(KNOB_1G, -n1g);
		}
		fclose(f);
	}
	if (d)
		closedir(d);
}

/*
 * A daemon that stops while a store holds files cannot give back the pages
 * they hold (the store stays mounted for a restart), and a restarted
 * daemon adds pages of its own rather than counting the adopted store's (a
 * known limit, docs/providers.md): the restart tests leave such pages.
 * Once the sweep has unmounted every store they are free, and the suite
 * puts the counts back as it found them.  That they can be put back shows
 * no page is still in use.  Every other test that touches huge pages runs
 * with is_parallel: false, so nothing else moves these counts meanwhile.
 */
static void restore_knob(const char *path, long before)
{
	long now = knob_read(path);

	if (before < 0 || now == before)
		return;
	fprintf(stderr, "check_prov_hugetlb: %s is %ld after the suite, %ld before: "
		"putting it back\n", path, now, before);
	knob_add(path, before - now);
	if (knob_read(path) != before) {
		fprintf(stderr, "check_prov_hugetlb: %s stays at %ld: pages still in use\n",
			path, knob_read(path));
		abort();
	}
}

static void teardown_run(void)
{
	give_back_pending();
	ck_tmpdir_sweep(base);
	restore_knob(KNOB_2M, run_knob_2m);
	restore_knob(KNOB_1G, run_knob_1g);
}

static void fs_start(struct gm_fs *fs, struct gm_opts *o, char *state, size_t len,
		     uint64_t pool, uint32_t n2m, uint32_t n1g)
{
	char pending[128];
	FILE *f;

	if (!state[0])
		ck_assert_int_eq(ck_tmpdir_sub(base, state, len), 0);
	*o = (struct gm_opts){ .state_dir = state, .pool_bytes = pool, .pagesize = GM_PS_AUTO,
			       .hugepages_2m = n2m, .hugepages_1g = n1g };
	ck_fs_up(fs, o);
	pending_path(pending, sizeof(pending));
	f = fopen(pending, "we");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%ld %ld\n", fs->pool.pages_added[GMEMFS_PROV_HUGETLB_2M],
		fs->pool.pages_added[GMEMFS_PROV_HUGETLB_1G]);
	fclose(f);
}

static void fs_stop(struct gm_fs *fs)
{
	char pending[128];

	gm_fs_teardown(fs);
	pending_path(pending, sizeof(pending));
	unlink(pending);
}

/* A store that still holds files at teardown stays mounted (a restart
 * adopts it), so its pages cannot go back to the kernel; in a test that
 * store dies with the test's mount namespace and its pages would stay in
 * the kernel's pool for good.  Tests remove their hugetlb files first. */
static void fs_stop_emptied(struct gm_fs *fs, const char *const names[])
{
	for (; *names; names++)
		ck_assert_int_eq(gm_ns_unlink(fs, fs->root, *names, false, 0), 0);
	fs_stop(fs);
}

static struct gm_inode *mkfile(struct gm_fs *fs, const char *name, const char *policy,
			       int *err)
{
	enum gm_pagesize ps = GM_PS_INHERIT;
	struct gm_new_args a = { .name = name, .mode = S_IFREG | 0600 };
	struct gm_inode *inode = NULL;

	if (policy)
		ck_assert_int_eq(gm_policy_parse(policy, strlen(policy), &ps), 0);
	a.policy = ps;
	*err = gm_ns_new(fs, fs->root, &a, &inode);
	if (inode)
		gm_fs_put(fs, inode);	/* the dentry keeps it */
	return inode;
}

static struct gm_inode *mkfile_ok(struct gm_fs *fs, const char *name, const char *policy)
{
	int err;
	struct gm_inode *inode = mkfile(fs, name, policy, &err);

	ck_assert_msg(err == 0, "create %s (%s): %s", name, policy, strerror(-err));
	return inode;
}

static const char *prov_of(struct gm_inode *inode)
{
	return inode->pi->prov->name;
}

static long meminfo_kb(const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Write len pattern bytes at off through the daemon's write path and read
 * them back through its read path. */
static void write_read_back(struct gm_fs *fs, struct gm_inode *inode, off_t off, size_t len,
			    uint8_t seed)
{
	uint8_t *w = malloc(len), *r = malloc(len);

	ck_assert(w && r);
	gm_test_fill(w, 0, len, seed);
	ck_assert_int_eq(gm_backing_write(fs, inode, w, len, off), (ssize_t)len);
	ck_assert_int_eq(gm_backing_read(inode, r, len, off), (ssize_t)len);
	ck_assert(memcmp(w, r, len) == 0);
	free(w);
	free(r);
}

START_TEST(test_reserve_carve_and_give_back)
{
	char state[128] = "";
	struct gm_pool_usage u;
	struct gm_opts o;
	struct gm_fs fs;
	long before = knob_read(KNOB_2M), free_before;
	uint64_t sum = 0;

	fs_start(&fs, &o, state, sizeof(state), 64 * MiB, 4, 0);
	/* Exactly the 4 pages asked for were added, and the store holds them. */
	ck_assert_int_eq(knob_read(KNOB_2M), before + 4);
	ck_assert_int_eq(fs.pool.pages_added[GMEMFS_PROV_HUGETLB_2M], 4);
	ck_assert_ptr_nonnull(gm_pool_inst(&fs.pool, GMEMFS_PROV_HUGETLB_2M));
	ck_assert_int_eq(gm_pool_usage(&fs.pool, &u), 0);
	ck_assert_uint_eq(u.prov[GMEMFS_PROV_HUGETLB_2M].limit, 8 * MiB);
	for (int i = 0; i < GM_NPROV; i++)
		sum += u.prov[i].limit;
	ck_assert_uint_eq(sum, 64 * MiB);	/* carved out, not added on top */
	ck_assert_uint_eq(fs.pool.fixed, 8 * MiB);
	/* No 1G pages asked for: absent, with the reason. */
	ck_assert_ptr_null(gm_pool_inst(&fs.pool, GMEMFS_PROV_HUGETLB_1G));
	ck_assert_ptr_nonnull(strstr(fs.pool.absent[GMEMFS_PROV_HUGETLB_1G], "--hugepages"));

	/* The store reserved its pages at mount (min_size): they are ours. */
	free_before = meminfo_kb("HugePages_Free");
	ck_assert_int_ge(meminfo_kb("HugePages_Rsvd"), 4);

	fs_stop(&fs);
	ck_assert_int_eq(knob_read(KNOB_2M), before);
	ck_assert_int_ge(free_before, 0);
}
END_TEST

START_TEST(test_file_gets_huge_pages_through_handout)
{
	char state[128] = "";
	struct gm_inode *f;
	struct gm_opts o;
	struct gm_fs fs;
	long free_before, before = knob_read(KNOB_2M);
	uint8_t *map;
	int fd;

	fs_start(&fs, &o, state, sizeof(state), 64 * MiB, 4, 0);
	f = mkfile_ok(&fs, "ram", "2m");
	ck_assert_str_eq(prov_of(f), "hugetlb-2m");
	ck_assert_int_eq(gm_backing_set_size(&fs, f, 4 * MiB), 0);
	/* hugetlbfs sizes are whole pages. */
	ck_assert_int_eq(gm_backing_set_size(&fs, f, 3 * MiB), -EINVAL);

	free_before = meminfo_kb("HugePages_Free");
	fd = gm_handout_open(&fs, f);
	ck_assert_int_ge(fd, 0);
	map = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	memset(map, 0x5a, 4 * MiB);
	ck_assert_int_eq(gm_smaps_kb(map, "KernelPageSize"), 2048);
	ck_assert_int_eq(meminfo_kb("HugePages_Free"), free_before - 2);

	/* The daemon's read path sees what the client wrote, and its write
	 * path (hugetlbfs has no write()) lands in the client's mapping. */
	uint8_t buf[8192];
	ck_assert_int_eq(gm_backing_read(f, buf, sizeof(buf), 2 * MiB - 4096), sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0x5a);
	write_read_back(&fs, f, 3 * MiB + 100, 5000, 3);
	gm_test_fill(buf, 0, 5000, 3);
	ck_assert(memcmp(map + 3 * MiB + 100, buf, 5000) == 0);
	munmap(map, 4 * MiB);
	close(fd);
	fs_stop_emptied(&fs, (const char *const[]){ "ram", NULL });
	ck_assert_int_eq(knob_read(KNOB_2M), before);
}
END_TEST

START_TEST(test_room_fallback_and_enospc)
{
	char state[128] = "";
	struct gm_inode *a, *b, *c;
	struct gm_opts o;
	struct gm_fs fs;
	int err;

	fs_start(&fs, &o, state, sizeof(state), 64 * MiB, 4, 0);
	/* 1g asked for and none to be had: ENOSPC at create, or the fallback. */
	ck_assert_ptr_null(mkfile(&fs, "big", "1g", &err));
	ck_assert_int_eq(err, -ENOSPC);
	c = mkfile_ok(&fs, "big-fb", "1g,fallback=2m-thp");
	ck_assert_str_eq(prov_of(c), "shmem-thp");
	/* Nor may an empty file change to it: refused before the journal
	 * holds the change, so the restart below replays cleanly. */
	ck_assert_int_eq(gm_ns_set_policy(&fs, c, GM_PS_1G), -ENOSPC);
	ck_assert_str_eq(gm_policy_text(c->policy), "1g,fallback=2m-thp");

	/* Two 2m files share the store's 8 MiB: sizes are promises. */
	a = mkfile_ok(&fs, "a", "2m");
	b = mkfile_ok(&fs, "b", "2m,fallback=4k");
	ck_assert_int_eq(gm_backing_set_size(&fs, a, 6 * MiB), 0);
	ck_assert_int_eq(gm_backing_set_size(&fs, a, 10 * MiB), -ENOSPC);
	ck_assert_int_eq(gm_backing_set_size(&fs, b, 4 * MiB), 0);
	ck_assert_str_eq(prov_of(b), "shmem-4k");	/* did not fit: fell back */
	ck_assert_int_eq(gm_backing_set_size(&fs, a, 8 * MiB), 0);
	/* A write past the end grows a hugetlb file by whole pages, within room. */
	ck_assert_int_eq(gm_backing_set_size(&fs, a, 6 * MiB), 0);
	write_read_back(&fs, a, 6 * MiB + 10, 100, 9);
	struct stat st;
	ck_assert_int_eq(gm_backing_stat(a, &st), 0);
	ck_assert_int_eq(st.st_size, 8 * MiB);
	uint8_t one = 1;
	ck_assert_int_eq(gm_backing_write(&fs, a, &one, 1, 8 * MiB), -ENOSPC);
	fs_stop(&fs);

	fs_start(&fs, &o, state, sizeof(state), 64 * MiB, 4, 0);
	ck_assert_uint_eq(fs.replay_failures, 0);
	a = gm_dentry_lookup(&fs.it, fs.root->ino, "b");
	ck_assert_ptr_nonnull(a);
	gm_fs_put(&fs, a);
	ck_assert_str_eq(prov_of(a), "shmem-4k");	/* found where it fell back */
	fs_stop_emptied(&fs, (const char *const[]){ "a", NULL });
}
END_TEST

START_TEST(test_auto_by_size_and_restart)
{
	char state[128] = "";
	struct gm_inode *big, *odd;
	struct gm_opts o;
	struct gm_fs fs;
	long before = knob_read(KNOB_2M);

	fs_start(&fs, &o, state, sizeof(state), 64 * MiB, 4, 0);
	big = mkfile_ok(&fs, "auto6", NULL);	/* the root's policy: auto */
	odd = mkfile_ok(&fs, "auto3", NULL);
	ck_assert_str_eq(prov_of(big), "shmem-advise");	/* no size yet */
	ck_assert_int_eq(gm_backing_set_size(&fs, big, 6 * MiB), 0);
	ck_assert_str_eq(prov_of(big), "hugetlb-2m");	/* the largest that fits */
	ck_assert_int_eq(gm_backing_set_size(&fs, odd, 3 * MiB), 0);
	ck_assert_str_eq(prov_of(odd), "shmem-advise");	/* 2 MiB pages do not divide it */
	write_read_back(&fs, big, 5 * MiB, 4096, 42);
	fs_stop(&fs);
	/* The store keeps the file: its 2 MiB pages leave the persistent
	 * pool as surplus pages, so nothing is owed. */
	ck_assert_int_eq(knob_read(KNOB_2M) - knob_read(SURPLUS_2M), before);
	ck_assert_int_eq(owed_2m(state), 0);

	/* The restart adopts the store and replay finds the file in it. */
	fs_start(&fs, &o, state, sizeof(state), 64 * MiB, 4, 0);
	big = gm_dentry_lookup(&fs.it, fs.root->ino, "auto6");
	ck_assert_ptr_nonnull(big);
	gm_fs_put(&fs, big);
	ck_assert_str_eq(prov_of(big), "hugetlb-2m");
	uint8_t r[4096], w[4096];
	gm_test_fill(w, 0, sizeof(w), 42);
	ck_assert_int_eq(gm_backing_read(big, r, sizeof(r), 5 * MiB), sizeof(r));
	ck_assert(memcmp(r, w, sizeof(r)) == 0);
	ck_assert_int_eq(knob_read(KNOB_2M) - knob_read(SURPLUS_2M), before + 4);
	ck_assert_int_eq(owed_2m(state), 4);
	/* Emptied, the store goes at exit, and with it the surplus pages. */
	fs_stop_emptied(&fs, (const char *const[]){ "auto6", NULL });
	ck_assert_int_eq(knob_read(KNOB_2M), before);
	ck_assert_int_eq(owed_2m(state), 0);
}
END_TEST

/*
 * 1 GiB pages: a real one (the file maps with KernelPageSize 1048576 kB);
 * once it is taken, a 1g,fallback=2m file lands on hugetlb-2m; the page
 * added is given back.  Tagged "hugetlb-1g": meson runs it through
 * tools/test-vm/need.sh --hugetlb-1g, so where the machine offers no 1 GiB
 * pages it runs in the test guest, which does; a kernel that offers them
 * but cannot give one fails it.
 */
START_TEST(test_1g_page)
{
	char state[128] = "";
	struct gm_inode *f;
	struct gm_opts o;
	struct gm_fs fs;
	long before = knob_read(KNOB_1G);
	uint8_t *map;
	int fd;

	ck_assert_int_ge(before, 0);
	fs_start(&fs, &o, state, sizeof(state), 2 * GiB, 1, 1);
	f = mkfile_ok(&fs, "ram", "1g,fallback=2m");
	ck_assert_msg(gm_pool_inst(&fs.pool, GMEMFS_PROV_HUGETLB_1G),
		      "no hugetlb-1g provider: %s", fs.pool.absent[GMEMFS_PROV_HUGETLB_1G]);
	ck_assert_int_eq(knob_read(KNOB_1G), before + 1);
	ck_assert_str_eq(prov_of(f), "hugetlb-1g");
	ck_assert_int_eq(gm_backing_set_size(&fs, f, GiB), 0);
	fd = gm_handout_open(&fs, f);
	ck_assert_int_ge(fd, 0);
	map = mmap(NULL, GiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	map[12345] = 7;
	ck_assert_int_eq(gm_smaps_kb(map, "KernelPageSize"), 1048576);
	uint8_t r = 0;
	ck_assert_int_eq(gm_backing_read(f, &r, 1, 12345), 1);
	ck_assert_uint_eq(r, 7);
	munmap(map, GiB);
	close(fd);
	/* The one page is taken: a second 1g file falls back to 2m. */
	f = mkfile_ok(&fs, "ram2", "1g,fallback=2m");
	ck_assert_int_eq(gm_backing_set_size(&fs, f, 2 * MiB), 0);
	ck_assert_str_eq(prov_of(f), "hugetlb-2m");
	/* An emptied store is unmounted at exit, so its page can go back
	 * (a 1 GiB page that holds a file, or a store's reservation, cannot). */
	ck_assert_int_eq(gm_ns_unlink(&fs, fs.root, "ram", false, 0), 0);
	fs_stop(&fs);
	ck_assert_int_eq(knob_read(KNOB_1G), before);
}
END_TEST

START_TEST(test_too_many_pages_for_the_budget)
{
	char state[128] = "";
	struct gm_opts o = { .pool_bytes = 16 * MiB, .pagesize = GM_PS_AUTO,
			     .hugepages_2m = 16 };
	struct gm_fs fs;
	long before = knob_read(KNOB_2M);

	ck_assert_int_eq(ck_tmpdir_sub(base, state, sizeof(state)), 0);
	o.state_dir = state;
	memset(&fs, 0, sizeof(fs));
	ck_assert_int_eq(gm_fs_setup(&fs, &o), -EINVAL);
	ck_assert_int_eq(knob_read(KNOB_2M), before);	/* nothing added */
}
END_TEST

Suite *make_prov_hugetlb_suite(void)
{
	Suite *s = suite_create("prov_hugetlb");
	TCase *tc = tcase_create("hugetlbfs");

	tcase_add_unchecked_fixture(tc, setup_run, teardown_run);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reserve_carve_and_give_back);
	tcase_add_test(tc, test_file_gets_huge_pages_through_handout);
	tcase_add_test(tc, test_room_fallback_and_enospc);
	tcase_add_test(tc, test_auto_by_size_and_restart);
	tcase_add_test(tc, test_too_many_pages_for_the_budget);
	suite_add_tcase(s, tc);

	tc = tcase_create("hugetlbfs_1g");
	tcase_set_tags(tc, "hugetlb-1g");
	tcase_add_unchecked_fixture(tc, setup_run, teardown_run);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_1g_page);
	suite_add_tcase(s, tc);
	return s;
}
