/*
 * gm-snapbench's recording rows: what recording a working set without
 * faults (gmemctl record-ws: userfaultfd RWP, PAGEMAP_SCAN's
 * PAGE_IS_ACCESSED) costs the running guest.  A guest booted on a file of
 * the mount (it writes every page) reads its working set once with no
 * recording and once while the daemon records, in alternating order each
 * round; the rows are the guest's run, the second's ratio to the first.
 * The bench is the VMM: it arms the recording itself, and learns from its
 * own pagemap when the daemon has protected the working set, so the
 * guest's run starts inside the recording.
 *
 * Not for: the lazy-restore rows (snapbench_lazy.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "gmemfs_client.h"
#include "snapbench.h"
#include "vmm.h"
#include "ws_compat.h"

#define REC_FILE	"snapbench-record.ram"
#define REC_INTERVAL_MS	100
#define REC_WAIT_MS	30000

struct sb_rec {
	const struct sb_run *run;
	struct gm_vmm vm;
	void *mem;
	struct gmemfs_ctl *arm;		/* the connection that armed it */
	pthread_t thread;
	uint32_t duration_ms;
	_Atomic bool rec_done;		/* the recording's reply came */
	double last_off_ms;		/* the guest's last run without recording */
	int rec_err;
	char why[SB_WHY];
};

static int rec_fail(struct sb_rec *r, int err, const char *what, const char *reason)
{
	int n = snprintf(r->why, sizeof(r->why), "%s: %s%s%s%s", what, strerror(-err),
			 reason && *reason ? " (" : "", reason ? reason : "",
			 reason && *reason ? ")" : "");

	/* a cut reason still names the step; mark the cut */
	if (n >= (int)sizeof(r->why))
		memcpy(r->why + sizeof(r->why) - 4, "...", 4);
	return err;
}

/* The guest's file: made on the mount and mapped shared. */
static int rec_map(struct sb_rec *r)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", r->run->mount, REC_FILE);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)r->run->size) < 0) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return rec_fail(r, err, path, NULL);
	}
	r->mem = mmap(NULL, r->run->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (r->mem == MAP_FAILED) {
		r->mem = NULL;
		return rec_fail(r, -errno, "mmap", NULL);
	}
	return 0;
}

static int rec_guest(struct sb_rec *r, double *ms)
{
	uint64_t ns = 0, checked = 0;
	int err = gm_vmm_check(&r->vm, r->run->seed, r->run->ws_first, 1, r->run->ws_pages, &ns,
			       &checked);

	if (err)
		return rec_fail(r, err, "the guest's check", r->vm.err);
	*ms = ns / 1e6;
	return 0;
}

int sb_rec_setup(const struct sb_run *run, struct sb_rec **out, char *why, bool *unsupported)
{
	struct sb_rec *r = calloc(1, sizeof(*r));
	uint64_t ns;
	int err;

	*unsupported = false;
	if (!r)
		return snprintf(why, SB_WHY, "out of memory"), -ENOMEM;
	r->run = run;
	err = rec_map(r);
	if (!err && (err = gm_vmm_open(&r->vm, -1)))
		rec_fail(r, err, "gm_vmm_open", r->vm.err);
	if (!err && (err = gm_vmm_set_ram(&r->vm, &(struct gm_vmm_ram){ r->mem, run->size, -1, 0 })))
		rec_fail(r, err, "the RAM slot", r->vm.err);
	if (!err && (err = gm_vmm_touch(&r->vm, run->seed, &ns)))
		rec_fail(r, err, "the guest's boot", r->vm.err);
	/* a first run unmeasured: the guest's mappings as in every round */
	if (!err)
		err = rec_guest(r, &r->last_off_ms);
	if (!err && (err = gmemfs_ctl_connect_path(run->mount, &r->arm, NULL)))
		rec_fail(r, err, "connect", NULL);
	if (!err && (err = gmemfs_ctl_record_ws_arm(r->arm, REC_FILE, r->mem, run->size, 0))) {
		*unsupported = err == -EOPNOTSUPP;
		rec_fail(r, err, "arming the recording", gmemfs_ctl_reason(r->arm));
	}
	snprintf(why, SB_WHY, "%s", r->why);
	if (err) {
		sb_rec_fini(r);
		return err;
	}
	*out = r;
	return 0;
}

void sb_rec_fini(struct sb_rec *r)
{
	char path[PATH_MAX];

	if (!r)
		return;
	if (r->arm)
		gmemfs_ctl_close(r->arm);
	gm_vmm_close(&r->vm);
	if (r->mem)
		munmap(r->mem, r->run->size);
	snprintf(path, sizeof(path), "%s/%s", r->run->mount, REC_FILE);
	unlink(path);
	free(r);
}

static void *rec_thread(void *arg)
{
	struct sb_rec *r = arg;
	struct gmemfs_ctl *c;
	uint64_t pages;

	r->rec_err = gmemfs_ctl_connect_path(r->run->mount, &c, NULL);
	if (r->rec_err)
		return NULL;
	r->rec_err = gmemfs_ctl_record_ws(c, REC_FILE, REC_INTERVAL_MS, r->duration_ms, &pages);
	if (r->rec_err)
		rec_fail(r, r->rec_err, "record-ws", gmemfs_ctl_reason(c));
	gmemfs_ctl_close(c);
	r->rec_done = true;
	return NULL;
}

static double rec_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The working set's last page is PAGE_IS_ACCESSED: 1, 0, or -errno.
 * Protection walks the range upwards, so once that page is protected
 * all of the working set is. */
static int rec_ws_accessed(const struct sb_rec *r)
{
	uint64_t a = (uintptr_t)r->mem + (r->run->ws_first + r->run->ws_pages - 1) * GM_VMM_PAGE;
	struct page_region v[1];
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .start = a, .end = a + GM_VMM_PAGE,
		.vec = (uintptr_t)v, .vec_len = 1,
		.category_mask = PAGE_IS_ACCESSED, .return_mask = PAGE_IS_ACCESSED,
	};
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), n;

	if (fd < 0)
		return -errno;
	n = ioctl(fd, PAGEMAP_SCAN, &arg);
	n = n < 0 ? -errno : n > 0;
	close(fd);
	return n;
}

/* The guest's run while the daemon records: the recording lasts long
 * enough for the wait and the run (a guest under recording faults once
 * per page, so allow it many times its run without). */
static int rec_on(struct sb_rec *r, double off_ms, double *ms)
{
	double end;
	int err, acc;

	r->duration_ms = (uint32_t)(off_ms < 5000 ? 5000 + 100 * off_ms : 600000);
	r->rec_err = 0;
	r->rec_done = false;
	if (pthread_create(&r->thread, NULL, rec_thread, r))
		return rec_fail(r, -EAGAIN, "pthread_create", NULL);
	end = rec_now_ms() + REC_WAIT_MS;
	while ((acc = rec_ws_accessed(r)) == 1 && !r->rec_err && rec_now_ms() < end)
		usleep(1000);
	err = acc < 0 ? rec_fail(r, acc, "PAGEMAP_SCAN", NULL) :
	      acc ? rec_fail(r, -ETIMEDOUT, "waiting for the daemon to protect the working set",
			     NULL) : rec_guest(r, ms);
	/* a run that outlasted the recording measured less than a recorded one */
	if (!err && r->rec_done && !r->rec_err)
		err = rec_fail(r, -ETIMEDOUT, "the recording ended before the guest's run", NULL);
	pthread_join(r->thread, NULL);
	return err ? err : r->rec_err;
}

/* The guest's run without recording, in steady state: a recording's
 * protections (and the unprotect at its end) took the pages from KVM's
 * secondary MMU, so a first run after one would measure those faults
 * again, which the guest pays once, not the recording's cost. */
static int rec_off(struct sb_rec *r, double *ms)
{
	double warm;
	int err = rec_guest(r, &warm);

	return err ? err : rec_guest(r, ms);
}

int sb_rec_round(struct sb_rec *r, unsigned int round, double *off_ms, double *on_ms,
		 char *why)
{
	int err;

	/* alternate which goes first, so neither always runs on a warmer machine */
	if (round % 2) {
		err = rec_on(r, r->last_off_ms, on_ms);
		if (!err)
			err = rec_off(r, off_ms);
	} else {
		err = rec_off(r, off_ms);
		if (!err)
			err = rec_on(r, *off_ms, on_ms);
	}
	if (!err)
		r->last_off_ms = *off_ms;
	snprintf(why, SB_WHY, "%s", r->why);
	return err;
}
