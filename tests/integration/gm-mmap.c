/*
 * gm-mmap: map a file MAP_SHARED the way a VMM maps guest RAM, then write,
 * verify or hold a per-page pattern.  The integration tests use it to check
 * that bytes written through one mapping (or one mount, or one daemon) read
 * back through another, that a fault past the pool budget raises SIGBUS, and
 * which page size the kernel really used (smaps).
 *
 * Usage: gm-mmap FILE SIZE MODE [ARG]      (SIZE: bytes, K/M/G suffix, 4K multiple)
 * Modes that write create FILE (0644) if it does not exist.
 *   write SEED    grow FILE to SIZE if shorter, write SEED's pattern through the mapping
 *   verify SEED   check SEED's pattern through a read-only mapping
 *   pwrite SEED   write the pattern with pwrite() (whole pages, zero elsewhere)
 *   pverify SEED  check the pattern with pread()
 *   touch         grow FILE to SIZE if shorter, write one byte to every page
 *   smaps         touch, then print the mapping's smaps figures as key=value
 *   smaps-advised the same after madvise(MADV_HUGEPAGE), as QEMU maps guest RAM
 *   hold [SECS]   grow FILE if shorter, map it, print "mapped", then serve
 *                 lines from stdin ("verify SEED", "write SEED", "quit"),
 *                 answering "ok" or an error line each; SECS (default 120)
 *                 bounds the whole run.
 * Mappings start on a 2 MiB boundary so huge pages can be PMD-mapped.
 * Exit: 0 ok, 1 pattern mismatch, 2 usage or system error, 3 SIGBUS.
 *
 * Not for: timing (bench/gm-firsttouch.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm-size.h"

#define PAGE		4096UL
#define HUGE_ALIGN	(2UL << 20)
#define IO_CHUNK	(1UL << 20)

enum { EXIT_OK = 0, EXIT_BAD = 1, EXIT_ERR = 2, EXIT_SIGBUS = 3 };

struct map {
	int fd;
	uint8_t *base;
	size_t size;
};

/* SIGBUS recovery: the handler jumps back to the guarded call. */
static sigjmp_buf bus_jmp;
static volatile uintptr_t bus_addr;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	bus_addr = (uintptr_t)si->si_addr;
	siglongjmp(bus_jmp, 1);
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * The pattern of one 4K page: a word at the start, its complement at the
 * end, and two bytes at offsets derived from the word (one in each half).
 */
struct page_spots {
	uint64_t word;
	size_t off1, off2;
	uint8_t b1, b2;
};

static struct page_spots spots_of(uint64_t seed, uint64_t page)
{
	struct page_spots s;

	s.word = mix64(mix64(seed) ^ page);
	s.off1 = 8 + s.word % 2040;			/* [8, 2048) */
	s.off2 = 2049 + (s.word >> 32) % 2039;		/* [2049, 4088) */
	s.b1 = (uint8_t)(s.word >> 8) | 1;
	s.b2 = (uint8_t)(s.word >> 48) | 2;
	return s;
}

static void page_write(uint8_t *p, uint64_t seed, uint64_t page)
{
	struct page_spots s = spots_of(seed, page);
	uint64_t inv = ~s.word;

	memcpy(p, &s.word, 8);
	memcpy(p + PAGE - 8, &inv, 8);
	p[s.off1] = s.b1;
	p[s.off2] = s.b2;
}

/* Offset inside the page of the first wrong byte, or -1 if all are right. */
static long page_check(const uint8_t *p, uint64_t seed, uint64_t page)
{
	struct page_spots s = spots_of(seed, page);
	uint64_t w, inv;

	memcpy(&w, p, 8);
	memcpy(&inv, p + PAGE - 8, 8);
	if (w != s.word)
		return 0;
	if (inv != ~s.word)
		return PAGE - 8;
	if (p[s.off1] != s.b1)
		return (long)s.off1;
	if (p[s.off2] != s.b2)
		return (long)s.off2;
	return -1;
}

static int open_file(const char *path, bool rw, size_t size)
{
	struct stat st;
	int fd = open(path, (rw ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);

	if (fd < 0) {
		fprintf(stderr, "gm-mmap: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (rw && fstat(fd, &st) == 0 && (size_t)st.st_size < size &&
	    ftruncate(fd, (off_t)size) < 0) {
		fprintf(stderr, "gm-mmap: ftruncate %s to %zu: %s\n", path, size,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Map fd at a 2 MiB-aligned address: carve it out of a larger reservation. */
static uint8_t *map_aligned(int fd, size_t size, bool rw)
{
	size_t span = size + HUGE_ALIGN;
	uint8_t *r, *a, *p;

	r = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)r + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1));
	if (a > r)
		munmap(r, (size_t)(a - r));
	if (a + size < r + span)
		munmap(a + size, (size_t)(r + span - (a + size)));
	p = mmap(a, size, rw ? PROT_READ | PROT_WRITE : PROT_READ,
		 MAP_SHARED | MAP_FIXED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int map_open(struct map *m, const char *path, size_t size, bool rw)
{
	m->size = size;
	m->fd = open_file(path, rw, size);
	if (m->fd < 0)
		return -1;
	m->base = map_aligned(m->fd, size, rw);
	if (!m->base) {
		fprintf(stderr, "gm-mmap: mmap %s: %s\n", path, strerror(errno));
		close(m->fd);
		return -1;
	}
	return 0;
}

static void map_close(struct map *m)
{
	munmap(m->base, m->size);
	close(m->fd);
}

enum map_op { OP_WRITE, OP_VERIFY, OP_TOUCH };

/* One pass over the mapping; SIGBUS is caught and reported, not fatal. */
static int map_pass(struct map *m, enum map_op op, uint64_t seed)
{
	size_t npages = m->size / PAGE;
	volatile size_t pg = 0;
	long bad;

	if (sigsetjmp(bus_jmp, 1)) {
		printf("SIGBUS at offset %" PRIuPTR "\n", bus_addr - (uintptr_t)m->base);
		return EXIT_SIGBUS;
	}
	for (; pg < npages; pg++) {
		uint8_t *p = m->base + pg * PAGE;

		if (op == OP_WRITE) {
			page_write(p, seed, pg);
		} else if (op == OP_TOUCH) {
			p[0] = 1;
		} else {
			bad = page_check(p, seed, pg);
			if (bad >= 0) {
				printf("bad offset %zu\n", pg * PAGE + (size_t)bad);
				return EXIT_BAD;
			}
		}
	}
	return EXIT_OK;
}

static int fd_pwrite(int fd, size_t size, uint64_t seed)
{
	uint8_t *buf = malloc(IO_CHUNK);
	size_t off, i, len;
	int err = EXIT_OK;

	if (!buf)
		return EXIT_ERR;
	for (off = 0; off < size && err == EXIT_OK; off += len) {
		len = size - off < IO_CHUNK ? size - off : IO_CHUNK;
		memset(buf, 0, len);
		for (i = 0; i < len; i += PAGE)
			page_write(buf + i, seed, (off + i) / PAGE);
		if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len) {
			printf("pwrite at offset %zu: %s\n", off, strerror(errno));
			err = EXIT_ERR;
		}
	}
	free(buf);
	return err;
}

static int fd_pverify(int fd, size_t size, uint64_t seed)
{
	uint8_t *buf = malloc(IO_CHUNK);
	size_t off, i, len;
	long bad;
	int err = EXIT_OK;

	if (!buf)
		return EXIT_ERR;
	for (off = 0; off < size && err == EXIT_OK; off += len) {
		len = size - off < IO_CHUNK ? size - off : IO_CHUNK;
		if (pread(fd, buf, len, (off_t)off) != (ssize_t)len) {
			printf("short pread at offset %zu: %s\n", off, strerror(errno));
			err = EXIT_BAD;
			break;
		}
		for (i = 0; i < len && err == EXIT_OK; i += PAGE) {
			bad = page_check(buf + i, seed, (off + i) / PAGE);
			if (bad >= 0) {
				printf("bad offset %zu\n", off + i + (size_t)bad);
				err = EXIT_BAD;
			}
		}
	}
	free(buf);
	return err;
}

/* Print the smaps block of the mapping that starts at base. */
static int print_smaps(const uint8_t *base)
{
	static const char *const keys[] = {
		"Size", "Rss", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped",
		"KernelPageSize", "MMUPageSize",
	};
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[4096], key[64], path[3000];
	unsigned long start, end, val;
	bool in = false, found = false;

	if (!f)
		return EXIT_ERR;
	while (fgets(line, sizeof(line), f)) {
		path[0] = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %2999s", &start, &end, path) >= 2) {
			in = start == (uintptr_t)base;
			if (in) {
				printf("file=%s\n", path);
				found = true;
			}
			continue;
		}
		if (!in || sscanf(line, "%63[^:]: %lu kB", key, &val) != 2)
			continue;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(key, keys[i]))
				printf("%s=%lu\n", key, val);
	}
	fclose(f);
	return found ? EXIT_OK : EXIT_ERR;
}

/* Serve "verify SEED" / "write SEED" / "quit" lines on the held mapping. */
static int hold(struct map *m, unsigned int secs)
{
	char line[256], cmd[32];
	unsigned long long seed;
	int n, rc;

	alarm(secs);
	printf("mapped\n");
	while (fgets(line, sizeof(line), stdin)) {
		n = sscanf(line, "%31s %llu", cmd, &seed);
		if (n >= 1 && !strcmp(cmd, "quit"))
			break;
		if (n == 2 && !strcmp(cmd, "verify"))
			rc = map_pass(m, OP_VERIFY, seed);
		else if (n == 2 && !strcmp(cmd, "write"))
			rc = map_pass(m, OP_WRITE, seed);
		else {
			printf("unknown command\n");
			continue;
		}
		if (rc == EXIT_OK)
			printf("ok\n");
	}
	return EXIT_OK;
}

static int usage(void)
{
	fprintf(stderr, "usage: gm-mmap FILE SIZE write|verify|pwrite|pverify SEED\n"
			"       gm-mmap FILE SIZE touch|smaps\n"
			"       gm-mmap FILE SIZE hold [SECS]\n");
	return EXIT_ERR;
}

static int run_fd_mode(const char *path, size_t size, bool rw, uint64_t seed)
{
	int fd = open_file(path, rw, size);
	int rc;

	if (fd < 0)
		return EXIT_ERR;
	rc = rw ? fd_pwrite(fd, size, seed) : fd_pverify(fd, size, seed);
	close(fd);
	return rc;
}

static int run_map_mode(const char *path, size_t size, const char *mode, const char *arg)
{
	bool rw = strcmp(mode, "verify") != 0;
	uint64_t seed = arg ? strtoull(arg, NULL, 0) : 0;
	struct map m;
	int rc;

	if (map_open(&m, path, size, rw) < 0)
		return EXIT_ERR;
	if (!strcmp(mode, "write"))
		rc = map_pass(&m, OP_WRITE, seed);
	else if (!strcmp(mode, "verify"))
		rc = map_pass(&m, OP_VERIFY, seed);
	else if (!strcmp(mode, "touch"))
		rc = map_pass(&m, OP_TOUCH, 0);
	else if (!strncmp(mode, "smaps", 5)) {
		rc = strcmp(mode, "smaps-advised") ? EXIT_OK : EXIT_ERR;
		if (rc == EXIT_ERR && madvise(m.base, m.size, MADV_HUGEPAGE) == 0)
			rc = EXIT_OK;
		if (rc == EXIT_OK)
			rc = map_pass(&m, OP_TOUCH, 0);
		if (rc == EXIT_OK)
			rc = print_smaps(m.base);
	}
	else
		rc = hold(&m, arg ? (unsigned int)strtoul(arg, NULL, 0) : 120);
	map_close(&m);
	return rc;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	const char *mode, *arg;
	size_t size;
	bool seeded;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4 || argc > 5 || gm_cli_parse_size(argv[2], &size) < 0)
		return usage();
	mode = argv[3];
	arg = argc == 5 ? argv[4] : NULL;
	seeded = !strcmp(mode, "write") || !strcmp(mode, "verify") ||
		 !strcmp(mode, "pwrite") || !strcmp(mode, "pverify");
	if (seeded != (arg != NULL) && strcmp(mode, "hold"))
		return usage();
	sigaction(SIGBUS, &sa, NULL);
	if (!strcmp(mode, "pwrite") || !strcmp(mode, "pverify"))
		return run_fd_mode(argv[1], size, !strcmp(mode, "pwrite"),
				   strtoull(arg, NULL, 0));
	if (seeded || !strcmp(mode, "touch") || !strcmp(mode, "smaps") ||
	    !strcmp(mode, "smaps-advised") || !strcmp(mode, "hold"))
		return run_map_mode(argv[1], size, mode, arg);
	return usage();
}
