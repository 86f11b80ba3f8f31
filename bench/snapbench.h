/*
 * gm-snapbench's shared types: the run's options, one series of samples,
 * and the lazy-restore children (snapbench_lazy.c).  gm-snapbench measures
 * what issue 6 asks of snapshots: snapshot and eager restore throughput per
 * provider against a VMM's plain write(2)/read(2) of the same memory, the
 * latency of one lazy fault against Firecracker's File backend (a private
 * mapping of the image), and the time a KVM guest needs to get its working
 * set back with and without the prefetcher.
 *
 * Not for: the backend x scenario matrix (gmembench).
 */
#ifndef GM_SNAPBENCH_H
#define GM_SNAPBENCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define SB_MAX_ROUNDS	50
#define SB_WHY		256

/* One row of the table: a value per round. */
struct sb_series {
	const char *name;		/* JSON key and table label */
	const char *unit;		/* "GiB/s", "us", "ms" */
	unsigned int n;
	double v[SB_MAX_ROUNDS];
	long long check[SB_MAX_ROUNDS];	/* evidence: bytes, faults, pages */
	char na[SB_WHY];		/* non-empty: not measured, why */
	bool failed;			/* na is a failure, not "cannot be measured here" */
};

struct sb_run {
	uint64_t size;			/* bytes of guest memory */
	uint64_t ws_first, ws_pages;	/* working set: 4 KiB pages [first, first + n) */
	unsigned int rounds;
	const char *mount;
	const char *json;
	bool lazy_only;			/* --lazy-only: no snapshot or restore rows */
	char dir[PATH_MAX];		/* snapshots and baseline files */
	char src_snap[PATH_MAX];	/* the 4k source's snapshot, for lazy rows */
	uint32_t seed;
	uint64_t chunk;			/* the snapshot's chunk size */
	const char *hugetlb_dir;	/* on the mount, of the hugetlb-2m policy */
	const char *no_kvm;		/* non-NULL: no KVM here, why (rows needing it n/a) */
	int errors;
};

/* What a child VMM reports through its pipe. */
struct sb_child_result {
	int err;			/* 0 or -errno */
	double ns;			/* the measured span */
	double p50_ns, p99_ns;		/* per fault, when faults were timed */
	double setup_ns, guest_ns;	/* working set: of ns, the restore request and
					 * the VM's making; the vCPU's run */
	uint64_t faults;		/* timed touches */
	uint64_t checked;		/* pages verified */
	char why[SB_WHY];
};

/* The guest memory a lazy restore places into: the working-set rows run
 * on each. */
enum sb_target {
	SB_T_4K,		/* anonymous private memory, 4 KiB pages */
	SB_T_THP,		/* the same with MADV_HUGEPAGE, 2 MiB aligned */
	SB_T_HUGETLB,		/* a new gmemfs hugetlb-2m file, shared: 2 MiB units */
	SB_NTARGETS,
};

enum sb_child_mode {
	SB_FAULTS_UFFD,		/* touch a word per chunk of uffd memory gmemfsd serves */
	SB_FAULTS_FILE,		/* the same on a private mapping of the image */
	SB_FAULTS_INPROC,	/* the same served by a bare handler thread of the VMM's */
	SB_WS_RECORD,		/* guest checks the working set; the daemon records it */
	SB_WS_LAZY,		/* guest checks the working set, no prefetch */
	SB_WS_PREFETCH,		/* guest checks the working set, recorded order prefetched */
	SB_WS_FILE,		/* guest checks the working set on the File backend */
	SB_WS_FLOOR,		/* the same on memory filled before the clock starts */
};

/* Fork a VMM process doing mode on target memory against run->src_snap:
 * 0 with *res filled (res->err tells the child's own failure), or -errno. */
int sb_child_run(const struct sb_run *run, enum sb_child_mode mode, enum sb_target target,
		 struct sb_child_result *res);

/* The page cache's hold on the lazy rows' snapshot (image and index):
 * cold drops it (fsync, then POSIX_FADV_DONTNEED), warm reads both files
 * whole.  0 with the percentage of their pages still (cold) or now (warm)
 * cached in *pct, or -errno. */
int sb_cache_set(const struct sb_run *run, bool cold, double *pct);
/* Wait (bounded) until the snapshot's index holds a working set. */
int sb_wait_ws(const struct sb_run *run, unsigned int timeout_ms);

/* The recording rows (snapbench_record.c): a guest booted on a file of
 * run->mount, its recording armed.  0, or -errno with why; *unsupported
 * when the kernel lacks userfaultfd RWP (the rows are then n/a). */
struct sb_rec;
int sb_rec_setup(const struct sb_run *run, struct sb_rec **out, char *why, bool *unsupported);
/* One round: the guest's ms to read the working set without and with a
 * recording running, in an order that alternates with round. */
int sb_rec_round(struct sb_rec *r, unsigned int round, double *off_ms, double *on_ms,
		 char *why);
void sb_rec_fini(struct sb_rec *r);

#endif
