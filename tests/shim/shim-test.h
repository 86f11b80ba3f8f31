/*
 * What shim-test.c shares with the other files of shim-test (t-persist.c,
 * t-resume.c, t-private.c, t-secret.c, t-secret-fs.c):
 * its checks, its test daemon, child processes, gmemfsd at GM_MNT and
 * guests on shim memory.  The definitions are in shim-test.c.
 *
 * Not for: tests (each file keeps its own).
 */
#ifndef GM_SHIM_TEST_H
#define GM_SHIM_TEST_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/shim_client.h"
#include "vmm.h"

#define PG		4096UL
#define TEST_SECONDS	60

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

/* Timings are the median of ROUNDS figures: TCG timings are noisy. */
#define ROUNDS	5

#define CHECK_SIGBUS(status) do {					\
	int st_ = (status);						\
	CHECK(WIFSIGNALED(st_) && WTERMSIG(st_) == SIGBUS,		\
	      "child status %#x, want SIGBUS", st_);			\
} while (0)

#define GM_MNT		"/mnt/gmemfs"
#define KVM_SEED	0xc0ffee

/* ---- the test daemon (shim-test.c) ---- */

enum serve_fault { SERVE_DATA, SERVE_ZERO, SERVE_FAIL, SERVE_IGNORE, SERVE_DIE };

struct server {
	struct gm_shimc *nl;
	enum serve_fault fault;
	int convert_status;
	atomic_int faults, converts, allocs, invalidates;
	atomic_bool stop;
	pthread_t thread;
};

/* A module parameter set, or read (a number, or -1 for "none"). */
void set_param(const char *name, unsigned int v);
long long param(const char *name);
/* Registered without a token, with no page limit. */
struct gm_shimc *daemon_up(void);
char *map(int fd, size_t size);
/* The byte the test daemon puts in page index of every file. */
unsigned char pattern(uint64_t index);
/* Wait up to ms for a NOTIFY; the number drained. */
int notices(struct gm_shimc *nl, int ms);
/* All queued events (at most max kept in out); their number. */
int accept_all(struct gm_shimc *nl, struct gm_shimc_event *out, int max);
/* Serve s->nl's events until s->stop (the thread's body). */
void *serve(void *arg);
void server_start(struct server *s, struct gm_shimc *nl, enum serve_fault fault);
void server_stop(struct server *s);

/* ---- child processes ---- */

void log_to(const char *prefix, const char *name, char *path, size_t len);
bool log_has(const char *path, const char *a, const char *b, int ms);
int wait_exit(pid_t pid, int limit_ms);
int in_child(void (*fn)(void *), void *arg, int limit_ms);
void touch_byte(void *p);
/* Unevictable memory (shim pages live there), in KiB. */
long long unevictable_kib(void);

/* ---- gmemfsd at GM_MNT, its state dir /run/gmemfs-TEST ---- */

pid_t gmemfsd_start(const char *pool_opt, const char *test);
void gmemfsd_stop(pid_t d);
long long shim_used(void);
long long shim_used_wait(long long want, bool at_least, int ms);
/* A KVM guest on GM_MNT/vm/NAME's handed-out shim fd, mapped. */
char *kvm_on(struct gm_vmm *vm, const char *name, size_t size);
void kvm_off(struct gm_vmm *vm, char *host, size_t size);

/* ---- t-persist.c ---- */

void t_persist_files(void);
void t_persist_fault(void);
void t_persist_grace(void);
void t_persist_stall(void);
void t_persist_gmemfsd(void);
void t_persist_forget(void);

/* ---- t-resume.c ---- */

void t_resume_ask(void);
void t_resume_stale(void);

/* ---- shared with t-private.c ---- */

int convert(int fd, uint64_t off, uint64_t size, uint32_t flags);
int lazy_file(const char *name, size_t size);
void snap_to(const char *rel, const char *snap);

/* ---- t-secret-fs.c ---- */

void t_secretfs_mount(void);
void t_secretfs_kvm(void);
void t_secretfs_lazy(void);
void t_secretfs_refusals(void);
void t_secretfs_restart(void);
void t_secretfs_no_carveout(void);

/* ---- t-private.c ---- */

void t_private_refusals(void);
void t_private_snapshot(void);
void t_private_journal(void);

/* ---- t-secret.c ---- */

void t_secret_kvm(void);
void t_secret_directmap(void);
void t_secret_rw(void);
void t_secret_enospc(void);
void t_secret_ask(void);
void t_secret_convert_cache(void);
void t_secret_persist(void);
void t_secret_figures(void);
void t_secret_bad_carveout(void);

#endif
