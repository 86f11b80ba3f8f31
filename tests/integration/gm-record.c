/*
 * gm-record: the VMM of t-record-ws.sh, a guest booted normally (not
 * restored) whose working set is recorded without faults:
 *
 *   gm-record MNT FILE MIB SEED GMEMCTL [INTERVAL_MS]
 *	maps the mount's FILE (MIB, written by gm-lazy source: the pattern
 *	of SEED, HOLE pages zero) shared as the RAM of a KVM guest, which
 *	reads all of it but the holes; arms the recording
 *	(gmemfs_ctl_record_ws_arm), runs `GMEMCTL record-ws` and, while it
 *	records, has the guest read set A (the second half's first pages of
 *	A_N chunks, one page each) and, once the daemon has protected A
 *	again (a later round), set B (chunks near the start).  Prints
 *	"# expect-ws OFF..." (the chunks of A then B, in that order) and
 *	"# guest-ns A B" (the guest's time for each set).
 *
 * The helper knows when the daemon protected a page from its own pagemap:
 * a page read-write-protected and not touched since is no longer
 * PAGE_IS_ACCESSED.  Every wait is bounded.
 * Prints "ok - "/"FAIL - " lines; exit 0 if all passed.
 *
 * Not for: the snapshot and the restore that follow (t-record-ws.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gm-test-util.h"
#include "gmemfs_client.h"
#include "vmm.h"
#include "ws_compat.h"

#define PG		4096ULL
#define CHUNK_PAGES	16		/* the snapshot's 64 KiB chunk */
#define SET_STRIDE	32		/* pages between two touched pages */
#define SET_N		8		/* chunks in each set */
#define HOLE_FIRST	64		/* gm-lazy source's HOLE pages */
#define HOLE_N		32
#define WAIT_MS		20000

extern char **environ;

struct rec_vm {
	struct gm_vmm vm;
	uint8_t *host;
	uint64_t pages;
	uint32_t seed;
};

/* Pages of [first, first + n * stride) by stride that are PAGE_IS_ACCESSED. */
static int accessed_pages(const struct rec_vm *v, uint64_t first, uint64_t stride, uint64_t n)
{
	struct page_region r[4];
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), count = 0;

	if (fd < 0)
		return -errno;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t a = (uintptr_t)v->host + (first + i * stride) * PG;
		struct pm_scan_arg arg = {
			.size = sizeof(arg), .start = a, .end = a + PG,
			.vec = (uintptr_t)r, .vec_len = 4,
			.category_mask = PAGE_IS_ACCESSED, .return_mask = PAGE_IS_ACCESSED,
		};
		int got = ioctl(fd, PAGEMAP_SCAN, &arg);

		if (got < 0) {
			count = -errno;
			break;
		}
		count += got > 0;
	}
	close(fd);
	return count;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until none of the pages is accessed: the daemon protected them. */
static bool wait_protected(const struct rec_vm *v, uint64_t first, uint64_t stride, uint64_t n)
{
	uint64_t end = now_ms() + WAIT_MS;
	int left;

	while ((left = accessed_pages(v, first, stride, n)) != 0 && now_ms() < end)
		usleep(2000);
	return left == 0;
}

static int guest_read(struct rec_vm *v, uint64_t first, uint64_t stride, uint64_t n,
		      uint64_t *ns)
{
	int err = gm_vmm_check(&v->vm, v->seed, first, stride, n, ns, NULL);

	if (err)
		fprintf(stderr, "guest check from page %llu: %s\n", (unsigned long long)first,
			v->vm.err);
	return err;
}

/* The boot: the guest reads every page but the holes. */
static int boot(struct rec_vm *v)
{
	uint64_t ns;
	int err = guest_read(v, 0, 1, HOLE_FIRST, &ns);

	return err ? err : guest_read(v, HOLE_FIRST + HOLE_N, 1,
				      v->pages - HOLE_FIRST - HOLE_N, &ns);
}

static int setup(struct rec_vm *v, const char *mnt, const char *file, uint64_t mib)
{
	char path[4096];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", mnt, file);
	v->pages = (mib << 20) / PG;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	v->host = mmap(NULL, v->pages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (v->host == MAP_FAILED)
		return -errno;
	err = gm_vmm_open(&v->vm, -1);
	if (!err)
		err = gm_vmm_set_ram(&v->vm, &(struct gm_vmm_ram){ v->host, v->pages * PG, -1, 0 });
	if (!err)
		err = boot(v);
	return err;
}

static pid_t spawn_record(const char *gmemctl, const char *mnt, const char *file,
			  const char *interval)
{
	char path[4096];
	char *argv[] = { (char *)gmemctl, "record-ws", "--interval", (char *)interval,
			 "--duration", "4", path, NULL };
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", mnt, file);
	return posix_spawn(&pid, gmemctl, NULL, NULL, argv, environ) ? -1 : pid;
}

/* gmemctl's exit status, waiting at most WAIT_MS (then killing it). */
static int reap(pid_t pid)
{
	uint64_t end = now_ms() + WAIT_MS;
	int st = 0;
	pid_t got;

	while ((got = waitpid(pid, &st, WNOHANG)) == 0 && now_ms() < end)
		usleep(10000);
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void print_expect(const struct rec_vm *v)
{
	uint64_t a = v->pages / 2, b = 2 * HOLE_FIRST;

	printf("# expect-ws");
	for (int i = 0; i < SET_N; i++)
		printf(" %llu", (unsigned long long)((a + i * SET_STRIDE) / CHUNK_PAGES * CHUNK_PAGES * PG));
	for (int i = 0; i < SET_N; i++)
		printf(" %llu", (unsigned long long)((b + i * SET_STRIDE) / CHUNK_PAGES * CHUNK_PAGES * PG));
	printf("\n");
}

static void record(struct rec_vm *v, const char *mnt, const char *file, const char *gmemctl,
		   const char *interval)
{
	uint64_t a = v->pages / 2, b = 2 * HOLE_FIRST, ns_a = 0, ns_b = 0;
	pid_t pid = spawn_record(gmemctl, mnt, file, interval);
	bool ok;

	gm_test_report(pid > 0, "gmemctl record-ws started", NULL);
	if (pid <= 0)
		return;
	ok = wait_protected(v, 0, 1, v->pages);
	gm_test_report(ok, "the daemon read-write-protected the whole guest memory", NULL);
	ok = ok && !guest_read(v, a, SET_STRIDE, SET_N, &ns_a);
	ok = ok && wait_protected(v, a, SET_STRIDE, SET_N);
	gm_test_report(ok, "the guest read set A, and a later round protected it again", NULL);
	ok = ok && !guest_read(v, b, SET_STRIDE, SET_N, &ns_b);
	gm_test_report(ok, "the guest read set B", NULL);
	gm_test_report(reap(pid) == 0, "gmemctl record-ws ended well", NULL);
	printf("# guest-ns %llu %llu\n", (unsigned long long)ns_a, (unsigned long long)ns_b);
	print_expect(v);
}

int main(int argc, char **argv)
{
	struct rec_vm v = { 0 };
	struct gmemfs_ctl *c = NULL;
	int err;

	if (argc < 6) {
		fprintf(stderr, "usage: gm-record MNT FILE MIB SEED GMEMCTL [INTERVAL_MS]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	v.seed = strtoul(argv[4], NULL, 0);
	err = setup(&v, argv[1], argv[2], strtoull(argv[3], NULL, 0));
	gm_test_report(!err, "a KVM guest booted on the mount's file and read it", v.vm.err);
	if (err)
		return 1;
	err = gmemfs_ctl_connect_path(argv[1], &c, NULL);
	if (!err)
		err = gmemfs_ctl_record_ws_arm(c, argv[2], v.host, v.pages * PG, 0);
	gm_test_report(!err, "the VMM armed the recording (a uffd in RWP_ASYNC mode)",
		       err ? (c ? gmemfs_ctl_reason(c) : strerror(-err)) : NULL);
	if (!err)
		record(&v, argv[1], argv[2], argv[5], argc > 6 ? argv[6] : "100");
	if (c)
		gmemfs_ctl_close(c);
	gm_vmm_clear_ram(&v.vm);
	gm_vmm_close(&v.vm);
	munmap(v.host, v.pages * PG);
	return gm_test_failures ? 1 : 0;
}
