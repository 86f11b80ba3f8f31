/*
 * What shim-test.c shares with the test files compiled into it
 * (t-private.c, ...): the checks, and the helpers that start gmemfsd,
 * run a child, map, convert and snapshot.  Each is documented where it is
 * defined, in shim-test.c.
 *
 * Not for: tests (each file keeps its own, with one line in shim-test.c's
 * table).
 */
#ifndef GM_SHIM_TEST_H
#define GM_SHIM_TEST_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG		4096UL
#define GM_MNT		"/mnt/gmemfs"

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);	\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		fflush(stdout);						\
		_exit(1);						\
	}								\
} while (0)

#define CHECK_ERR(call, want) do {					\
	int got_ = (call);						\
	CHECK(got_ == (want), "got %d (%s), want %d (%s)", got_,	\
	      strerror(got_ < 0 ? -got_ : got_), (want),		\
	      strerror((want) < 0 ? -(want) : (want)));			\
} while (0)

#define CHECK_SIGBUS(status) do {					\
	int st_ = (status);						\
	CHECK(WIFSIGNALED(st_) && WTERMSIG(st_) == SIGBUS,		\
	      "child status %#x, want SIGBUS", st_);			\
} while (0)

unsigned char pattern(uint64_t index);
char *map(int fd, size_t size);
int wait_exit(pid_t pid, int limit_ms);
int in_child(void (*fn)(void *), void *arg, int limit_ms);
void touch_byte(void *p);
int convert(int fd, uint64_t off, uint64_t size, uint32_t flags);
pid_t gmemfsd_start(const char *pool_opt, const char *test);
void gmemfsd_stop(pid_t d);
int lazy_file(const char *name, size_t size);
void snap_to(const char *rel, const char *snap);

/* t-private.c */
void t_private_refusals(void);
void t_private_snapshot(void);
void t_private_journal(void);

#endif
