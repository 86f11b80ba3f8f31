/*
 * gmembench's shared types: the run (options, results), the backend table
 * (where memory comes from) and the scenario table (what is measured).
 * Adding a backend is one entry in backends.c plus its create function;
 * adding a scenario is one entry in scenarios.c plus its measure function.
 *
 * Not for: how anything is measured or printed (scenarios.c, report.c).
 */
#ifndef GM_BENCH_H
#define GM_BENCH_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm.h"

#define BENCH_MAX_ROUNDS	100
#define BENCH_MAX_BACKENDS	12
#define BENCH_MAX_SCENARIOS	12
#define BENCH_REASON_LEN	512

struct bench;
struct gmemfs_ctl;

/* One fresh memory object of the run's size: a new file (or guest_memfd)
 * per sample, so a first touch is really a first touch. */
struct bench_obj {
	int fd;
	char path[PATH_MAX];	/* "" when it has no name */
	int vm_fd;		/* in: the VM a guest runs on it with, -1: userspace only */
};

/* Backend flags. */
#define BK_GUEST_MEMFD	(1U << 0)	/* a guest_memfd (made on a KVM VM): guest RAM slot
					 * via KVM_MEM_GUEST_MEMFD; n/a without KVM */
#define BK_GMEMFS	(1U << 1)	/* a gmemfs file: ratios against sits_on and guest_memfd */
#define BK_NO_REOPEN	(1U << 2)	/* no name to open again (open latency n/a) */
#define BK_CTL_FD	(1U << 3)	/* gmemfs: the memory is the fd the control socket hands out */

/* What a backend's setup found and keeps until teardown.  Written only
 * by the backend's own functions. */
struct bench_backend_state {
	int available;
	char reason[BENCH_REASON_LEN];	/* why it is skipped */
	char dir[PATH_MAX];		/* where its files are made, if anywhere */
	long hugepages_added;		/* 2 MiB pages added to nr_hugepages */
	int mounted;			/* dir is a tmpfs we mounted */
	unsigned int serial;		/* names fresh files */
	uint64_t page_size;		/* the page size the kernel used, if known */
	int passthrough;		/* gmemfs: the file's opens use passthrough */
	struct gmemfs_ctl *ctl;		/* BK_CTL_FD: the mount's control socket */
	char rel[PATH_MAX];		/* BK_CTL_FD: dir, relative to the mount root */
	int scratch_vm_fd;		/* kvm-gmem: a VM for objects no guest runs on */
};

struct bench_backend {
	const char *name;
	const char *desc;
	const char *sits_on;	/* BK_GMEMFS: name of the raw backend below it */
	unsigned int flags;
	uint64_t align;		/* the size must be a multiple of this */
	/* Make it usable (mount, reserve pages); 0, or -errno with
	 * st->reason saying why it is skipped.  NULL: always available. */
	int (*setup)(struct bench *b, struct bench_backend_state *st);
	/* A fresh object of b->size bytes; 0 or -errno (logged). */
	int (*create)(struct bench *b, struct bench_backend_state *st, struct bench_obj *obj);
	/* A new fd on an existing object, as a VMM would open it again (for
	 * open-mmap): fd or -errno.  NULL: open(2) of its path, or of
	 * /proc/self/fd/N for a memfd. */
	int (*reopen)(struct bench *b, struct bench_backend_state *st,
		      const struct bench_obj *obj);
	/* Undo setup; NULL: nothing to undo. */
	void (*teardown)(struct bench *b, struct bench_backend_state *st);
};

/* One measurement; check is scenario-specific evidence that the work was
 * done (bytes populated, pages the guest wrote, bytes left after a punch). */
struct bench_sample {
	double value;
	long long check;
	long long huge;		/* bytes of the object mapped with huge pages, -1: n/a */
};

/* Context of one measure call. */
struct bench_job {
	const struct bench_backend *bk;
	struct bench_backend_state *st;
	struct bench_sample sample;
	char why[BENCH_REASON_LEN];	/* -EOPNOTSUPP: why it is n/a */
};

struct bench_scenario {
	const char *name;
	const char *title;
	const char *unit;
	int throughput;		/* higher is better (GiB/s); else lower is better */
	const char *check_name;	/* JSON key of bench_sample.check */
	int maps;		/* its objects are mapped: samples record .huge */
	int vcpu;		/* runs a KVM vCPU: n/a without KVM */
	/* One sample on a fresh object.  0; -EOPNOTSUPP when the backend
	 * cannot do it (job->why); any other -errno is a failure (logged). */
	int (*measure)(struct bench *b, struct bench_job *job);
};

/* Results of one scenario on one backend. */
struct bench_cell {
	unsigned int n;			/* samples taken */
	struct bench_sample s[BENCH_MAX_ROUNDS];
	char na[BENCH_REASON_LEN];	/* non-empty: not applicable, why */
	int failed;			/* a sample failed its check or errored */
};

struct bench_stat {
	double median, min, max;
};

struct bench {
	/* options */
	uint64_t size;
	unsigned int rounds;
	const char *only;	/* a scenario name, or NULL for all */
	const char *json;
	const char *plot;
	const char *mount;	/* a gmemfs mount to use, or NULL */
	int quick;
	int argc;
	char **argv;

	/* the run */
	struct gm_vmm vm;
	int have_vm;
	char vm_reason[BENCH_REASON_LEN];
	char no_kvm[BENCH_REASON_LEN];	/* non-empty: no KVM here, why (rows needing it n/a) */
	int private_ns;		/* our mounts are private to gmembench */
	char ns_reason[BENCH_REASON_LEN];
	char tmpdir[PATH_MAX];	/* private scratch dir (mounts go below it) */
	void *ceiling_buf;	/* size bytes, pre-faulted, for memset */
	double started, finished;	/* CLOCK_MONOTONIC seconds */
	char started_utc[32];
	long long daemon_rw_before[2], daemon_rw_after[2];	/* gmemfs read, write requests */
	int errors;		/* failures so far (bench exits 1) */

	/* results */
	struct bench_backend_state st[BENCH_MAX_BACKENDS];
	struct bench_cell cell[BENCH_MAX_SCENARIOS][BENCH_MAX_BACKENDS];
	struct bench_sample ceiling[BENCH_MAX_SCENARIOS * BENCH_MAX_ROUNDS];
	unsigned int nceiling;
};

extern const struct bench_backend bench_backends[];
extern const unsigned int bench_nbackends;
extern const struct bench_scenario bench_scenarios[];
extern const unsigned int bench_nscenarios;

/* backends.c */
int bench_backend_index(const char *name);
void bench_backends_setup(struct bench *b);
void bench_backends_teardown(struct bench *b);
void bench_obj_release(struct bench_obj *obj);
long long bench_daemon_requests(const struct bench *b, const char *op);

/* scenarios.c */
int bench_measure_ceiling(struct bench *b, struct bench_sample *s);

/* report.c */
struct bench_stat bench_stat_of(const struct bench_sample *s, unsigned int n);
void bench_report_table(struct bench *b);
int bench_report_json(struct bench *b, const char *path);
int bench_report_plot(struct bench *b, const char *path);
void bench_print_command(const struct bench *b, FILE *f);

#endif
