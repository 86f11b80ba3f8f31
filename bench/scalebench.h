/*
 * gm-scalebench's shared types: the run (options, populations, results),
 * the two file systems it compares (a gmemfs mount and a private tmpfs)
 * and the table of metadata operations it times at each population.
 * Adding an operation is one entry in scale_ops.c plus its batch function.
 *
 * Not for: how anything is timed (scale_ops.c), printed (scale_report.c) or
 * the restart after kill -9 (scale_restart.c).
 */
#ifndef GM_SCALEBENCH_H
#define GM_SCALEBENCH_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#define SC_MAX_POPS	8
#define SC_MAX_ROUNDS	50
#define SC_MAX_OPS	12
#define SC_REASON_LEN	512
#define SC_NFS		2	/* SC_GMEMFS, SC_TMPFS */
#define SC_GMEMFS	0
#define SC_TMPFS	1

struct scale;

/* One file system's side of the run: the directory its population lives
 * in, and how many of its files f0000000... exist now. */
struct scale_fs {
	const char *name;		/* "gmemfs", "tmpfs" */
	char dir[PATH_MAX];
	unsigned int nfiles;		/* f%07u for 0 <= i < nfiles exist */
	int dir_made;			/* dir is ours to remove */
};

/* One timed batch: us per operation (readdir: per entry), the whole
 * batch's time, and the evidence the work was done (operations that
 * completed; readdir: entries seen that belong to the population). */
struct scale_sample {
	double value;
	double total_us;
	long long check;
};

/* Context of one batch of one operation on one file system. */
struct scale_job {
	struct scale_fs *fs;
	unsigned int round;
	unsigned int batch;		/* operations to do (readdir: passes) */
	struct scale_sample sample;
	char err[SC_REASON_LEN];	/* the failing call, its file and errno */
};

struct scale_op {
	const char *name;
	const char *title;
	const char *unit;
	/* One batch; 0, -EOPNOTSUPP (job->err says why: n/a on this file
	 * system), or another -errno with job->err naming the call. */
	int (*run)(struct scale *s, struct scale_job *job);
};

struct scale_cell {
	unsigned int n;
	struct scale_sample s[SC_MAX_ROUNDS];
	char na[SC_REASON_LEN];		/* non-empty: not applicable, why */
	char err[SC_REASON_LEN];	/* non-empty: failed, the first error */
};

/* Adding files to reach one population, on one file system. */
struct scale_populate {
	double secs;
	unsigned int added;
	char err[SC_REASON_LEN];
};

struct scale_pop {
	unsigned int files;
	int ran;			/* populated and measured (maybe with failures) */
	long rss_kb;			/* the daemon's VmRSS once populated, -1: unknown */
	double settle_secs;		/* until the daemon went idle, -1: did not or unknown */
	double measure_secs;		/* wall time of its batches */
	double daemon_cpu_secs;		/* the daemon's CPU time meanwhile, -1: unknown */
	char skipped[SC_REASON_LEN];	/* why it was not measured */
	struct scale_populate populate[SC_NFS];
	struct scale_cell cell[SC_MAX_OPS][SC_NFS];
};

struct scale_restart {
	int ran;
	char err[SC_REASON_LEN];
	unsigned int files;		/* population it restarted with */
	pid_t old_pid, new_pid;
	int running;			/* new_pid is our child, not reaped yet */
	int stopped;			/* we stopped it: stop_status is its end */
	long rss_empty_kb;		/* at the start, before any file (-1: unknown) */
	long rss_before_kb;		/* just before kill -9 */
	long rss_served_kb;		/* when the mount served again */
	long rss_walked_kb;		/* after a readdir and stat of every file */
	double kill_ms;			/* kill -9 until the process was gone */
	double serve_ms;		/* restart command started until a stat succeeded */
	double walk_ms;			/* that readdir and stat of every file */
	unsigned int found;		/* files of the population the walk found */
	int stop_status;		/* of the restarted daemon at the end; -1: killed */
};

struct scale {
	/* options */
	unsigned int pops[SC_MAX_POPS];
	unsigned int npops;
	unsigned int rounds;
	unsigned int batch;
	uint64_t size;			/* of every file, sparse (ftruncate) */
	const char *mount;
	const char *json;
	const char *only;		/* an operation name, or NULL for all */
	int isolate;			/* let the daemon go idle before each op */
	pid_t daemon_pid;		/* gmemfsd serving mount, 0: unknown */
	const char *restart_cmd;	/* sh -c command that execs it again */
	unsigned int restart_timeout;	/* seconds */
	int argc;
	char **argv;

	/* the run */
	int orig_ns;			/* fd of the caller's mount namespace */
	char cwd[PATH_MAX];		/* the caller's working directory */
	char tmpdir[PATH_MAX];		/* private scratch dir; the tmpfs is below */
	char tmpfs_mnt[PATH_MAX];
	int tmpfs_mounted;
	struct scale_fs fs[SC_NFS];
	double started, finished;
	char started_utc[32];
	int errors;

	/* results */
	struct scale_pop pop[SC_MAX_POPS];
	struct scale_restart restart;
};

extern volatile sig_atomic_t scale_stop;
extern const struct scale_op scale_ops[];
extern const unsigned int scale_nops;

static inline double scale_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* scale_ops.c */
void scale_name(char *buf, size_t len, const struct scale_fs *fs, char kind, unsigned int i);
int scale_populate_to(struct scale *s, struct scale_fs *fs, unsigned int n,
		      struct scale_populate *p);
int scale_unpopulate(struct scale *s, struct scale_fs *fs);
long long scale_count_entries(const struct scale_fs *fs, unsigned int n);

/* scale_restart.c */
long scale_rss_kb(pid_t pid);
double scale_cpu_secs(pid_t pid);
void scale_restart_run(struct scale *s);
void scale_restart_stop(struct scale *s);

/* scale_report.c */
struct scale_stat {
	double median, min, max;
};
struct scale_stat scale_stat_of(const struct scale_cell *c, int total);
void scale_report_table(const struct scale *s);
int scale_report_json(const struct scale *s, const char *path);
void scale_print_command(const struct scale *s, FILE *f);

#endif
