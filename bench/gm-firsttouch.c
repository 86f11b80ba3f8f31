/*
 * gm-firsttouch: what a guest's first touch of a 4K page costs when its
 * memory is a gmemfs file mapped through the mount (FUSE passthrough)
 * versus the very same backing file mapped directly from the provider's
 * tmpfs.  Both alternatives map one object, so they differ only in the path
 * the mapping was made through.
 *
 * Each round, for each alternative (order alternating between rounds): the
 * file is emptied and resized through the gmemfs path (ftruncate 0, then
 * ftruncate SIZE), mapped MAP_SHARED, one byte written per 4K page under
 * CLOCK_MONOTONIC, then unmapped.  After each pass the backing file must
 * hold every page (st_blocks), or the run fails.  Reports ns per page for
 * each round, the median, min and max per alternative, the ratio of the
 * medians, and the exact command line.
 *
 * Usage: gm-firsttouch [--rounds N] [--size SIZE] [--state-dir DIR]
 *                      GMEMFS_FILE [BACKING_FILE]
 * Without BACKING_FILE, it is DIR/<provider>/<16-hex id> from the file's
 * GMEMFS_IOC_INFO (DIR: the daemon's --state-dir).
 * Not for: assertions about speed (tests never check timings).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "gm-size.h"
#include "gm-test-util.h"
#include "gmemfs.h"

#define PAGE		4096UL
#define MAX_ROUNDS	1000

enum alt { ALT_GMEMFS, ALT_DIRECT, NALT };
static const char *const alt_name[NALT] = { "gmemfs", "direct" };

struct opts {
	unsigned int rounds;
	size_t size;
	const char *state_dir;
	const char *path[NALT];
};

struct bench {
	struct opts o;
	int fd[NALT];
	char backing[4096];
	double ns[NALT][MAX_ROUNDS];	/* ns per page, per round */
};

static int usage(void)
{
	fprintf(stderr, "usage: gm-firsttouch [--rounds N] [--size SIZE] [--state-dir DIR]\n"
			"                     GMEMFS_FILE [BACKING_FILE]\n");
	return 2;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	int i, npath = 0;

	*o = (struct opts){ .rounds = 5, .size = 256UL << 20 };
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--rounds") && v) {
			o->rounds = (unsigned int)strtoul(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--size") && v) {
			if (gm_cli_parse_size(v, &o->size) < 0)
				return -1;
			i++;
		} else if (!strcmp(a, "--state-dir") && v) {
			o->state_dir = v;
			i++;
		} else if (a[0] != '-' && npath < NALT) {
			o->path[npath++] = a;
		} else {
			return -1;
		}
	}
	if (npath == 0 || o->rounds == 0 || o->rounds > MAX_ROUNDS)
		return -1;
	if (npath == 1 && !o->state_dir) {
		fprintf(stderr, "gm-firsttouch: give BACKING_FILE or --state-dir\n");
		return -1;
	}
	return 0;
}

/* Open the gmemfs file (creating it), size it, and find its backing. */
static int open_gmemfs(struct bench *b)
{
	struct gmemfs_info info = { 0 };
	const char *dir;

	b->fd[ALT_GMEMFS] = open(b->o.path[ALT_GMEMFS], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (b->fd[ALT_GMEMFS] < 0 || ftruncate(b->fd[ALT_GMEMFS], (off_t)b->o.size) < 0) {
		fprintf(stderr, "gm-firsttouch: %s: %s\n", b->o.path[ALT_GMEMFS], strerror(errno));
		return -1;
	}
	if (ioctl(b->fd[ALT_GMEMFS], GMEMFS_IOC_INFO, &info) < 0) {
		fprintf(stderr, "gm-firsttouch: GMEMFS_IOC_INFO on %s: %s (not on gmemfs?)\n",
			b->o.path[ALT_GMEMFS], strerror(errno));
		return -1;
	}
	printf("file: %s provider=%u page_size=%llu id=%llu passthrough=%d\n",
	       b->o.path[ALT_GMEMFS], info.provider, (unsigned long long)info.page_size,
	       (unsigned long long)info.id, !!(info.flags & GMEMFS_INFO_PASSTHROUGH));
	if (info.page_size != PAGE)
		printf("note: the file's page size is %llu, not 4K: set user.gmemfs.pagesize=4k "
		       "for a per-4K-page figure\n", (unsigned long long)info.page_size);
	if (b->o.path[ALT_DIRECT])
		return 0;
	/* Only the shmem providers keep a backing file in the state dir, in
	 * a directory named as the provider is. */
	if (!gmemfs_prov_is_shmem(info.provider)) {
		fprintf(stderr, "gm-firsttouch: provider %s has no tmpfs backing\n",
			gmemfs_prov_name(info.provider));
		return -1;
	}
	dir = gmemfs_prov_name(info.provider);
	snprintf(b->backing, sizeof(b->backing), "%s/%s/%016llx", b->o.state_dir, dir,
		 (unsigned long long)info.id);
	b->o.path[ALT_DIRECT] = b->backing;
	return 0;
}

/* Prove both paths name one object: a cookie written through one is read
 * through the other. */
static int check_same_object(struct bench *b)
{
	uint64_t cookie = (uint64_t)time(NULL) * 2654435761ULL ^ (uint64_t)getpid();
	uint64_t seen = 0;

	if (pwrite(b->fd[ALT_GMEMFS], &cookie, sizeof(cookie), 0) != sizeof(cookie) ||
	    pread(b->fd[ALT_DIRECT], &seen, sizeof(seen), 0) != sizeof(seen) ||
	    seen != cookie) {
		fprintf(stderr, "gm-firsttouch: %s is not the backing of %s\n",
			b->o.path[ALT_DIRECT], b->o.path[ALT_GMEMFS]);
		return -1;
	}
	return 0;
}

static int open_all(struct bench *b)
{
	if (open_gmemfs(b) < 0)
		return -1;
	b->fd[ALT_DIRECT] = open(b->o.path[ALT_DIRECT], O_RDWR | O_CLOEXEC);
	if (b->fd[ALT_DIRECT] < 0) {
		fprintf(stderr, "gm-firsttouch: %s: %s\n", b->o.path[ALT_DIRECT], strerror(errno));
		return -1;
	}
	printf("backing: %s\n", b->o.path[ALT_DIRECT]);
	return check_same_object(b);
}

/* Empty the file through gmemfs, so every page is a first touch. */
static int reset_file(struct bench *b)
{
	if (ftruncate(b->fd[ALT_GMEMFS], 0) < 0 ||
	    ftruncate(b->fd[ALT_GMEMFS], (off_t)b->o.size) < 0) {
		fprintf(stderr, "gm-firsttouch: ftruncate: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Every page must be in the backing after a pass. */
static int check_populated(struct bench *b, enum alt a)
{
	struct stat st;

	if (fstat(b->fd[ALT_DIRECT], &st) < 0)
		return -1;
	if ((uint64_t)st.st_blocks * 512 < b->o.size) {
		fprintf(stderr, "gm-firsttouch: %s pass left %llu of %zu bytes populated\n",
			alt_name[a], (unsigned long long)st.st_blocks * 512, b->o.size);
		return -1;
	}
	return 0;
}

/* One timed pass: ns per page, or a negative value on error. */
static double touch_pass(struct bench *b, enum alt a)
{
	size_t npages = b->o.size / PAGE, i;
	volatile uint8_t *p;
	double t0, t1;

	if (reset_file(b) < 0)
		return -1;
	p = mmap(NULL, b->o.size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd[a], 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "gm-firsttouch: mmap %s: %s\n", b->o.path[a], strerror(errno));
		return -1;
	}
	t0 = (double)gm_mono_ns();
	for (i = 0; i < npages; i++)
		p[i * PAGE] = (uint8_t)(i | 1);
	t1 = (double)gm_mono_ns();
	munmap((void *)p, b->o.size);
	if (check_populated(b, a) < 0)
		return -1;
	return (t1 - t0) / (double)npages;
}

static int run_rounds(struct bench *b)
{
	unsigned int r, k;

	printf("round first   gmemfs_ns/page direct_ns/page\n");
	for (r = 0; r < b->o.rounds; r++) {
		for (k = 0; k < NALT; k++) {
			enum alt a = (enum alt)((k + r) % NALT);

			b->ns[a][r] = touch_pass(b, a);
			if (b->ns[a][r] < 0)
				return -1;
		}
		printf("%5u %-7s %14.1f %14.1f\n", r + 1, alt_name[r % NALT],
		       b->ns[ALT_GMEMFS][r], b->ns[ALT_DIRECT][r]);
	}
	return 0;
}

static double summarize(struct bench *b, enum alt a)
{
	double v[MAX_ROUNDS], med;
	unsigned int n = b->o.rounds;

	memcpy(v, b->ns[a], n * sizeof(double));
	med = gm_median_sort(v, n);
	printf("%s: median %.1f ns/page (min %.1f, max %.1f, %u rounds)\n",
	       alt_name[a], med, v[0], v[n - 1], n);
	return med;
}

static void print_command(int argc, char **argv)
{
	printf("command:");
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	static struct bench b;
	double gm, direct;

	if (parse_opts(argc, argv, &b.o) < 0)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	print_command(argc, argv);
	if (open_all(&b) < 0)
		return 1;
	printf("size: %zu bytes, %zu pages of 4 KiB\n", b.o.size, b.o.size / PAGE);
	if (run_rounds(&b) < 0)
		return 1;
	printf("populated: every pass left all %zu pages in the backing\n", b.o.size / PAGE);
	gm = summarize(&b, ALT_GMEMFS);
	direct = summarize(&b, ALT_DIRECT);
	printf("ratio gmemfs/direct (medians): %.3f\n", gm / direct);
	return 0;
}
