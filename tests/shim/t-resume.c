/*
 * shim-test's cases for lazy restores that outlive gmemfsd (issue 15,
 * docs/lazy-restore.md "Daemon death and resume"): an ask-mode restore of
 * a shim file, gmemfsd killed with SIGKILL while a reader faults the file
 * page by page, gmemfsd started again on the same state directory.  The
 * module keeps the file and its pending faults (t-persist.c); the new
 * daemon resumes the session from STATE/lazy before it accepts them, so
 * every page reads the snapshot's bytes, and the restore ends in auto
 * mode with its record gone.  And the same with the snapshot changed
 * meanwhile: not resumed, and the faults end in SIGBUS, never zeros.
 *
 * Not for: uffd sessions (tests/integration/t-lazy-crash.sh, on the host).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <utime.h>

#include <gmemfs_client.h>

#include "common/clock.h"
#include "shim-test.h"

#define R_SIZE		(4UL << 20)
#define R_PAGES		(R_SIZE / PG)
#define R_SNAP		"/run/shim-resume.snap"
#define R_STATE		"/run/gmemfs-resume"
#define R_POOL		"--pool-size=64M"
#define R_STALL_US	10000.0		/* a read slower than this waited for gmemfsd */

/* The snapshot's byte in page i: every other page written, the rest zero. */
static unsigned char r_byte(uint64_t i)
{
	return i % 2 ? 0 : pattern(i + 3);
}

/* GM_MNT/vm/src written so, snapshotted to R_SNAP. */
static void r_snapshot(void)
{
	struct gmemfs_snap_stats st;
	struct gmemfs_ctl *c;
	char page[PG];
	int fd = open(GM_MNT "/vm/src", O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0 && ftruncate(fd, R_SIZE) == 0, "vm/src: %s", strerror(errno));
	for (uint64_t i = 0; i < R_PAGES; i += 2) {
		memset(page, r_byte(i), PG);
		CHECK(pwrite(fd, page, PG, i * PG) == PG, "pwrite: %s", strerror(errno));
	}
	close(fd);
	unlink(R_SNAP);
	unlink(R_SNAP ".idx");
	CHECK(gmemfs_ctl_connect_path(GM_MNT, &c, NULL) == 0, "connect");
	CHECK_ERR(gmemfs_ctl_snapshot(c, "vm/src", R_SNAP, NULL, NULL, NULL, &st), 0);
	gmemfs_ctl_close(c);
}

/* An ask-mode restore of snap into the new file GM_MNT/vm/NAME, nothing
 * prefetched (units stay missing until faulted); the file mapped shared
 * through its handed-out shim fd. */
static char *r_restore(const char *snap, const char *name)
{
	struct gmemfs_ctl_stat st;
	struct gmemfs_ctl *c;
	char path[128], rel[64];
	uint64_t id;
	char *p;
	int fd;

	snprintf(rel, sizeof(rel), "vm/%s", name);
	snprintf(path, sizeof(path), GM_MNT "/%s", rel);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0, "create %s: %s", path, strerror(errno));
	close(fd);
	CHECK(gmemfs_ctl_connect_path(GM_MNT, &c, NULL) == 0, "connect");
	CHECK_ERR(gmemfs_ctl_restore_lazy(c, snap, -1, NULL, 0, rel, GMEMFS_CTL_F_NO_PREFETCH,
					  &id), 0);
	gmemfs_ctl_close(c);
	fd = gmemfs_open_backing(path, &st);
	CHECK(fd >= 0 && st.info.provider == GMEMFS_PROV_SHIM, "OPEN of %s: %d", path, fd);
	p = map(fd, R_SIZE);
	close(fd);
	return p;
}

/* Reads page after page from the second quarter on, each timed. */
struct r_reader {
	volatile char *p;
	atomic_int done;
	int first_bad;			/* page, or -1 */
	double us[R_PAGES];
};

static void *r_read(void *arg)
{
	struct r_reader *r = arg;

	r->first_bad = -1;
	for (uint64_t i = R_PAGES / 4; i < R_PAGES; i++) {
		uint64_t t0 = gm_mono_ns();
		unsigned char c = r->p[i * PG + 17];

		r->us[r->done] = (gm_mono_ns() - t0) / 1e3;
		if (c != r_byte(i) && r->first_bad < 0)
			r->first_bad = (int)i;
		r->done++;
		usleep(200);	/* paced: faults still to come when gmemfsd dies */
	}
	return NULL;
}

static void r_kill(pid_t d)
{
	kill(d, SIGKILL);
	CHECK(WIFSIGNALED(wait_exit(d, 10000)), "gmemfsd did not die of SIGKILL");
}

/* Records left in the state directory. */
static int r_records(void)
{
	DIR *dir = opendir(R_STATE "/lazy");
	struct dirent *e;
	int n = 0;

	CHECK(dir, R_STATE "/lazy: %s", strerror(errno));
	while ((e = readdir(dir)))
		n += strstr(e->d_name, ".rec") != NULL;
	closedir(dir);
	return n;
}

static int r_count_fn(void *ctx, const struct gmemfs_session *s)
{
	(void)s;
	++*(int *)ctx;
	return 0;
}

static int r_sessions(void)
{
	struct gmemfs_ctl *c;
	int n = 0;

	CHECK(gmemfs_ctl_connect_path(GM_MNT, &c, NULL) == 0, "connect");
	CHECK_ERR(gmemfs_ctl_sessions(c, r_count_fn, &n), 0);
	gmemfs_ctl_close(c);
	return n;
}

static int r_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The reads that waited for the daemon: count, p50 and max (ms). */
static void r_stall_figure(struct r_reader *r)
{
	double stalled[R_PAGES];
	int n = 0;

	for (int i = 0; i < r->done; i++)
		if (r->us[i] > R_STALL_US)
			stalled[n++] = r->us[i];
	qsort(stalled, n, sizeof(stalled[0]), r_cmp);
	printf("figure: TCG: an ask-mode lazy restore, gmemfsd killed (SIGKILL) and restarted "
	       "while a reader faults page by page: %d of %d faults waited, p50 %.1f ms, "
	       "max %.1f ms\n", n, (int)r->done, n ? stalled[n / 2] / 1e3 : 0.0,
	       n ? stalled[n - 1] / 1e3 : 0.0);
}

void t_resume_ask(void)
{
	static struct r_reader r;
	pthread_t thread;
	pid_t d = gmemfsd_start(R_POOL, "resume");
	uint64_t t0;
	char *p;

	r_snapshot();
	p = r_restore(R_SNAP, "dst");
	for (uint64_t i = 0; i < R_PAGES / 4; i++)
		CHECK(p[i * PG + 5] == (char)r_byte(i), "page %llu before the kill",
		      (unsigned long long)i);
	CHECK(r_records() == 1, "%d records in " R_STATE "/lazy, want 1", r_records());
	r.p = p;
	CHECK(pthread_create(&thread, NULL, r_read, &r) == 0, "thread");
	while (r.done < (int)R_PAGES / 8)
		usleep(1000);	/* a count: nothing to poll() on */
	r_kill(d);
	d = gmemfsd_start(R_POOL, "resume");
	pthread_join(thread, NULL);
	CHECK(r.first_bad < 0, "page %d read wrong across the restart", r.first_bad);
	for (uint64_t i = 0; i < R_PAGES; i++)
		for (uint64_t b = 0; b < PG; b += 512)
			CHECK(p[i * PG + b] == (char)r_byte(i), "page %llu byte %llu",
			      (unsigned long long)i, (unsigned long long)b);
	printf("  every page of the file reads the snapshot's bytes\n");
	t0 = gm_mono_ns();
	while ((r_sessions() || r_records()) && gm_mono_ns() - t0 < 10000000000ULL)
		usleep(20000);	/* the session's end: nothing to poll() on */
	CHECK(!r_sessions() && !r_records(), "the resumed session still runs (%d) or its record "
	      "stays (%d)", r_sessions(), r_records());
	r_stall_figure(&r);
	munmap(p, R_SIZE);
	unlink(GM_MNT "/vm/dst");
	unlink(GM_MNT "/vm/src");
	gmemfsd_stop(d);
}

static void r_touch_rest(void *arg)
{
	volatile char *p = arg;

	for (uint64_t i = 0; i < R_PAGES; i++)
		if (p[i * PG] != (char)r_byte(i))
			_exit(3);	/* wrong bytes: the worst outcome */
	_exit(0);
}

void t_resume_stale(void)
{
	struct utimbuf old = { 1000000000, 1000000000 };
	pid_t d = gmemfsd_start(R_POOL, "resume");
	int st;
	char *p;

	r_snapshot();
	CHECK(system("cp " R_SNAP " /run/shim-moved.snap && cp " R_SNAP ".idx "
		     "/run/shim-moved.snap.idx") == 0, "copying the snapshot");
	p = r_restore("/run/shim-moved.snap", "stale");
	CHECK(p[5] == (char)r_byte(0), "page 0 before the kill");
	r_kill(d);
	CHECK(utime("/run/shim-moved.snap", &old) == 0, "utime: %s", strerror(errno));
	d = gmemfsd_start(R_POOL, "resume");
	CHECK(r_records() == 0, "the changed snapshot's record was kept");
	st = in_child(r_touch_rest, (void *)p, 20000);
	CHECK_SIGBUS(st);
	printf("  not resumed (the snapshot changed): the rest of the file faults SIGBUS\n");
	munmap(p, R_SIZE);
	unlink(GM_MNT "/vm/stale");
	unlink(GM_MNT "/vm/src");
	gmemfsd_stop(d);
}
