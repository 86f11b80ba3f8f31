/*
 * Private memory stays private (docs/shim.md, "Conversion policy";
 * docs/snapshot.md, PRIVATE extents): gmemfsd decides every conversion of
 * its shim files, journals what the module applied, and snapshots and
 * restores private ranges without their bytes.  Run in the test guest as
 * part of shim-test; gmemfsd's stderr goes to a log file per test, whose
 * refusal lines are checked.
 *
 * Not for: the module's own conversion mechanics (t_convert in
 * shim-test.c).
 */
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "gmemfs.h"
#include "gmemfs_client.h"
#include "gmemfs_shim.h"
#include "gmemfs_snap.h"
#include "common/clock.h"
#include "shim-test.h"

#define NOBODY		1000
#define SECRET		"PRIVATE-MEMORY-SECRET"
#define USER_DIR	"/run/private-user"

static uint64_t t_start;

/* The test's guest time since private_start, for the closing note (TCG). */
static void took(void)
{
	printf("  took %.1f s\n", (double)(gm_mono_ns() - t_start) / 1e9);
}

/* gmemfsd with state "private-NAME", logging to the file named in log. */
static pid_t private_start(const char *name, const char *pool, char log[64])
{
	char state[64];

	t_start = gm_mono_ns();
	log_to("private", name, log, 64);
	snprintf(state, sizeof(state), "private-%s", name);
	return gmemfsd_start(pool, state);
}

/* GM_MNT/vm/NAME, size bytes, page i holding pattern(i + salt); mode 0666
 * so that another user may open it (and be refused by ownership). */
static int private_file(const char *name, size_t size, unsigned salt)
{
	static char buf[64 * PG];
	int fd = lazy_file(name, size);

	for (size_t off = 0; off < size; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf) / PG; i++)
			memset(buf + i * PG, pattern(off / PG + i + salt), PG);
		CHECK(pwrite(fd, buf, sizeof(buf), off) == (ssize_t)sizeof(buf), "pwrite: %s",
		      strerror(errno));
	}
	CHECK(fchmod(fd, 0666) == 0, "fchmod: %s", strerror(errno));
	return fd;
}

static int shim_fd(const char *name)
{
	struct gmemfs_ctl_stat st;
	char path[128];
	int fd;

	snprintf(path, sizeof(path), GM_MNT "/vm/%s", name);
	fd = gmemfs_open_backing(path, &st);
	CHECK(fd >= 0, "OPEN of %s: %s", path, strerror(-fd));
	return fd;
}

static struct gmemfs_ctl *ctl(void)
{
	struct gmemfs_ctl *c;

	CHECK(gmemfs_ctl_connect_path(GM_MNT, &c, NULL) == 0, "connect");
	return c;
}

/* ---- refusals ------------------------------------------------------ */

/* As uid NOBODY: the file opens (mode 0666) but neither converts nor
 * snapshots nor restores. */
static void as_nobody(void *arg)
{
	struct gmemfs_snap_stats st;
	struct gmemfs_ctl *c;
	int fd;

	(void)arg;
	CHECK(setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0,
	      "setuid: %s", strerror(errno));
	fd = shim_fd("f");
	CHECK_ERR(convert(fd, 0, PG, GMEMFS_SHIM_CONVERT_PRIVATE), -EPERM);
	CHECK_ERR(convert(fd, 0, PG, 0), -EPERM);
	close(fd);
	c = ctl();
	CHECK_ERR(gmemfs_ctl_snapshot(c, "vm/f", USER_DIR "/f.snap", NULL, NULL, NULL, &st),
		  -EPERM);
	printf("  snapshot by uid %d: %s\n", NOBODY, gmemfs_ctl_reason(c));
	CHECK(strstr(gmemfs_ctl_reason(c), "not the owner"), "reason: %s", gmemfs_ctl_reason(c));
	CHECK_ERR(gmemfs_ctl_restore(c, "/run/private-r.snap", "vm/f", NULL, NULL, &st), -EPERM);
	gmemfs_ctl_close(c);
}

struct busy_race {
	int fd;
	atomic_bool done;
	int busy, ok;
};

/* Convert page 3 to private and back until the snapshot is done. */
static void *race_convert(void *arg)
{
	struct busy_race *r = arg;

	while (!atomic_load(&r->done)) {
		int err = convert(r->fd, 3 * PG, PG, GMEMFS_SHIM_CONVERT_PRIVATE);

		if (err == -EBUSY)
			r->busy++;
		CHECK(err == 0 || err == -EBUSY, "conversion under a snapshot: %s",
		      strerror(-err));
		if (!err) {
			r->ok++;
			CHECK_ERR(convert(r->fd, 3 * PG, PG, 0), 0);
		}
	}
	return NULL;
}

/* A snapshot of a 32 MiB file takes long enough in the guest for a
 * conversion loop to meet it; tried a few times, as timing decides. */
static void refuse_under_snapshot(const char *log)
{
	struct busy_race r = { 0 };
	pthread_t t;

	r.fd = shim_fd("big");
	for (int i = 0; i < 5 && !r.busy; i++) {
		atomic_store(&r.done, false);
		CHECK(pthread_create(&t, NULL, race_convert, &r) == 0, "pthread_create");
		snap_to("vm/big", "/run/private-big.snap");
		atomic_store(&r.done, true);
		pthread_join(t, NULL);
	}
	printf("  under a snapshot: %d conversions refused, %d done\n", r.busy, r.ok);
	CHECK(r.busy > 0, "no conversion met the snapshot");
	CHECK(log_has(log, "refused: a snapshot is reading or placing", "+4096) to private", 5000),
	      "no log line for the refusal under the snapshot");
	/* Over: it converts again. */
	CHECK_ERR(convert(r.fd, 3 * PG, PG, GMEMFS_SHIM_CONVERT_PRIVATE), 0);
	CHECK_ERR(convert(r.fd, 3 * PG, PG, 0), 0);
	close(r.fd);
	unlink("/run/private-big.snap");
	unlink("/run/private-big.snap.idx");
}

/* A lazy restore without prefetch stays until its units are faulted: a
 * conversion to private of its file is refused meanwhile. */
static void refuse_under_restore(const char *log)
{
	struct gmemfs_ctl *c = ctl();
	uint64_t id;
	int fd;

	snap_to("vm/f", "/run/private-r.snap");
	close(lazy_file("lz", 0));
	CHECK_ERR(gmemfs_ctl_restore_lazy(c, "/run/private-r.snap", -1, NULL, 0, "vm/lz",
					  GMEMFS_CTL_F_NO_PREFETCH, &id), 0);
	gmemfs_ctl_close(c);
	fd = shim_fd("lz");
	CHECK_ERR(convert(fd, 16 * PG, 16 * PG, GMEMFS_SHIM_CONVERT_PRIVATE), -EBUSY);
	CHECK(log_has(log, "refused: a lazy restore is reading or placing", "to private", 5000),
	      "no log line for the refusal under the lazy restore");
	/* To shared is no danger to the restore. */
	CHECK_ERR(convert(fd, 16 * PG, 16 * PG, 0), 0);
	close(fd);
}

void t_private_refusals(void)
{
	char log[64];
	pid_t d;
	int fd;

	d = private_start("refusals", "--pool-size=128M", log);
	close(private_file("f", 1 << 20, 1));
	fd = private_file("big", 32 << 20, 2);
	close(fd);
	CHECK(mkdir(USER_DIR, 0777) == 0 || errno == EEXIST, "mkdir: %s", strerror(errno));
	CHECK(chmod(USER_DIR, 0777) == 0, "chmod: %s", strerror(errno));

	refuse_under_restore(log);
	CHECK(WIFEXITED(in_child(as_nobody, NULL, 20000)), "as uid %d", NOBODY);
	CHECK(log_has(log, "refused: uid 1000 is not the file's owner (uid 0)", "to private", 5000),
	      "no log line for the non-owner's conversion");
	refuse_under_snapshot(log);
	/* The owner (root) converts the same range. */
	fd = shim_fd("f");
	CHECK_ERR(convert(fd, 0, PG, GMEMFS_SHIM_CONVERT_PRIVATE), 0);
	CHECK_ERR(convert(fd, 0, PG, 0), 0);
	close(fd);
	gmemfsd_stop(d);
	took();
}

/* ---- snapshot and restore ------------------------------------------ */

#define PSIZE		(1UL << 20)
#define PRIV_OFF	(64 * PG)
#define PRIV_LEN	(16 * PG)

/* Pages of the private range hold SECRET over and over. */
static void secret_page(char *page)
{
	for (size_t i = 0; i + sizeof(SECRET) <= PG; i += sizeof(SECRET))
		memcpy(page + i, SECRET, sizeof(SECRET));
}

static void check_no_secret(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	char *p;

	CHECK(fd >= 0 && fstat(fd, &sb) == 0, "%s: %s", path, strerror(errno));
	p = sb.st_size ? mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	CHECK(p != MAP_FAILED, "mmap %s", path);
	CHECK(!p || !memmem(p, sb.st_size, SECRET, strlen(SECRET)),
	      "%s holds the private range's bytes", path);
	if (p)
		munmap(p, sb.st_size);
	close(fd);
}

/* The index: version 3, and one PRIVATE extent after another covering
 * exactly [off, off + len). */
static void check_index(const char *idx, uint64_t off, uint64_t len)
{
	struct gmemfs_snap_header h;
	struct gmemfs_snap_extent e;
	uint64_t at = off;
	int fd = open(idx, O_RDONLY);

	CHECK(fd >= 0 && pread(fd, &h, sizeof(h), 0) == sizeof(h), "%s", idx);
	CHECK(!len || h.version == 3, "index version %u", h.version);
	for (uint64_t i = 0; i < h.nr_extents; i++) {
		CHECK(pread(fd, &e, sizeof(e), sizeof(h) + i * sizeof(e)) == sizeof(e), "extent");
		if (e.type != GMEMFS_SNAP_EXT_PRIVATE)
			continue;
		CHECK(e.offset == at && e.crc == 0, "PRIVATE extent at %#llx, want %#llx",
		      (unsigned long long)e.offset, (unsigned long long)at);
		at += e.length;
	}
	CHECK(at == off + len, "PRIVATE extents end at %#llx, want %#llx",
	      (unsigned long long)at, (unsigned long long)(off + len));
	close(fd);
}

static void check_restored(const char *name)
{
	char page[PG], want[PG];
	int fd = shim_fd(name);
	char *p = map(fd, PSIZE);

	for (size_t i = 0; i < PSIZE / PG; i++) {
		if (i * PG >= PRIV_OFF && i * PG < PRIV_OFF + PRIV_LEN) {
			CHECK(pread(fd, page, PG, i * PG) == -1 && errno == EACCES,
			      "page %zu of the private range read: %s", i, strerror(errno));
			continue;
		}
		memset(want, pattern(i + 5), PG);
		CHECK(pread(fd, page, PG, i * PG) == PG && !memcmp(page, want, PG),
		      "restored page %zu differs", i);
		CHECK(!memcmp(p + i * PG, want, PG), "mapped page %zu differs", i);
	}
	CHECK_SIGBUS(in_child(touch_byte, p + PRIV_OFF + PG, 10000));
	CHECK_SIGBUS(in_child(touch_byte, p + PRIV_OFF + PRIV_LEN - 1, 10000));
	munmap(p, PSIZE);
	close(fd);
}

static void restore_refusals(void)
{
	struct gmemfs_snap_stats st;
	struct gmemfs_ctl *c = ctl();
	uint64_t id;

	CHECK(mkdir(GM_MNT "/plain", 0755) == 0, "mkdir: %s", strerror(errno));
	close(open(GM_MNT "/plain/q", O_RDWR | O_CREAT, 0600));
	CHECK_ERR(gmemfs_ctl_restore(c, "/run/private-p.snap", "plain/q", NULL, NULL, &st),
		  -EOPNOTSUPP);
	printf("  into a non-shim file: %s\n", gmemfs_ctl_reason(c));
	CHECK(strstr(gmemfs_ctl_reason(c), "private ranges"), "%s", gmemfs_ctl_reason(c));
	close(lazy_file("z", 0));
	CHECK_ERR(gmemfs_ctl_restore_lazy(c, "/run/private-p.snap", -1, NULL, 0, "vm/z", 0, &id),
		  -EOPNOTSUPP);
	printf("  lazily: %s\n", gmemfs_ctl_reason(c));
	gmemfs_ctl_close(c);
}

/* An incremental snapshot of q over p's: the first half of the private
 * range is shared again and written, the second shared and zero, so
 * neither may inherit the parent's PRIVATE; restored into r, the chain
 * has no private range left and every page reads back. */
static void incremental_over_private(void)
{
	struct gmemfs_snap_stats st;
	char page[PG], want[PG];
	struct gmemfs_ctl *c;
	int fd = shim_fd("q"), err;

	CHECK_ERR(convert(fd, PRIV_OFF, PRIV_LEN, 0), 0);
	memset(page, 0x6b, PG);
	for (uint64_t off = PRIV_OFF; off < PRIV_OFF + PRIV_LEN / 2; off += PG)
		CHECK(pwrite(fd, page, PG, off) == PG, "pwrite: %s", strerror(errno));
	close(fd);
	unlink("/run/private-q.snap");
	unlink("/run/private-q.snap.idx");
	c = ctl();
	err = gmemfs_ctl_snapshot(c, "vm/q", "/run/private-q.snap", "/run/private-p.snap",
				  NULL, NULL, &st);
	CHECK(err == 0, "incremental snapshot: %s (%s)", strerror(-err), gmemfs_ctl_reason(c));
	close(lazy_file("r", 0));
	err = gmemfs_ctl_restore(c, "/run/private-q.snap", "vm/r", NULL, NULL, &st);
	CHECK(err == 0, "restore of the chain: %s (%s)", strerror(-err), gmemfs_ctl_reason(c));
	gmemfs_ctl_close(c);
	fd = shim_fd("r");
	for (size_t i = 0; i < PSIZE / PG; i++) {
		bool priv = i * PG >= PRIV_OFF && i * PG < PRIV_OFF + PRIV_LEN;

		memset(want, !priv ? pattern(i + 5) : i * PG < PRIV_OFF + PRIV_LEN / 2 ? 0x6b : 0,
		       PG);
		CHECK(pread(fd, page, PG, i * PG) == PG && !memcmp(page, want, PG),
		      "page %zu of the chain's restore: %s", i, strerror(errno));
	}
	close(fd);
}

void t_private_snapshot(void)
{
	struct gmemfs_snap_stats st;
	struct gmemfs_ctl *c;
	char page[PG], log[64];
	pid_t d;
	int fd, sfd, err;

	d = private_start("snapshot", "--pool-size=64M", log);
	fd = private_file("p", PSIZE, 5);
	secret_page(page);
	for (uint64_t off = PRIV_OFF; off < PRIV_OFF + PRIV_LEN; off += PG)
		CHECK(pwrite(fd, page, PG, off) == PG, "pwrite: %s", strerror(errno));
	sfd = shim_fd("p");
	CHECK_ERR(convert(sfd, PRIV_OFF, PRIV_LEN, GMEMFS_SHIM_CONVERT_PRIVATE), 0);
	close(sfd);
	close(fd);

	snap_to("vm/p", "/run/private-p.snap");
	check_no_secret("/run/private-p.snap");
	check_no_secret("/run/private-p.snap.idx");
	check_index("/run/private-p.snap.idx", PRIV_OFF, PRIV_LEN);

	close(lazy_file("q", 0));
	c = ctl();
	err = gmemfs_ctl_restore(c, "/run/private-p.snap", "vm/q", NULL, NULL, &st);
	CHECK(err == 0, "restore: %s (%s)", strerror(-err), gmemfs_ctl_reason(c));
	gmemfs_ctl_close(c);
	check_restored("q");
	incremental_over_private();
	restore_refusals();
	gmemfsd_stop(d);
	took();
}

/* ---- the journal ----------------------------------------------------- */

/* A snapshot of vm/j shows what the daemon holds private: pages 12..15,
 * as the journal says.  The file keeps its memory across the restart (the
 * module keeps shim files for their state dir), so the module's ranges and
 * the journal's must agree. */
static void journal_check(const char *when)
{
	int fd = open(GM_MNT "/vm/j", O_RDWR);
	struct stat sb;

	CHECK(fd >= 0 && fstat(fd, &sb) == 0, "vm/j: %s", strerror(errno));
	printf("  %s: vm/j has %lld bytes\n", when, (long long)sb.st_size);
	CHECK(sb.st_size == (off_t)PSIZE, "vm/j came back with %lld bytes, want %lu",
	      (long long)sb.st_size, (unsigned long)PSIZE);
	close(fd);
	snap_to("vm/j", "/run/private-j.snap");
	check_index("/run/private-j.snap.idx", 12 * PG, 4 * PG);
	unlink("/run/private-j.snap");
	unlink("/run/private-j.snap.idx");
}

void t_private_journal(void)
{
	char log[64];
	pid_t d;
	int fd;

	d = private_start("journal", "--pool-size=64M", log);
	close(private_file("j", PSIZE, 9));
	fd = shim_fd("j");
	CHECK_ERR(convert(fd, 8 * PG, 8 * PG, GMEMFS_SHIM_CONVERT_PRIVATE), 0);
	CHECK_ERR(convert(fd, 8 * PG, 4 * PG, 0), 0);
	CHECK_ERR(convert(fd, 18 * PG, 2 * PG, GMEMFS_SHIM_CONVERT_PRIVATE), 0);
	/* A truncate leaves [16 pages, end) shared: the daemon hears it from
	 * the module; the conversion after is answered once it has. */
	CHECK(truncate(GM_MNT "/vm/j", 16 * PG) == 0, "truncate: %s", strerror(errno));
	CHECK_ERR(convert(fd, 0, PG, 0), 0);
	CHECK(truncate(GM_MNT "/vm/j", PSIZE) == 0, "truncate: %s", strerror(errno));
	close(fd);
	journal_check("before the restart");
	gmemfsd_stop(d);
	/* Replayed from the appended records, then from the compacted ones. */
	d = gmemfsd_start("--pool-size=64M", "private-journal");
	journal_check("after a restart");
	gmemfsd_stop(d);
	d = gmemfsd_start("--pool-size=64M", "private-journal");
	journal_check("after a second restart (the compacted journal)");
	gmemfsd_stop(d);
	took();
}
