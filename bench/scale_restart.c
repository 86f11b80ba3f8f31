/*
 * gm-scalebench's restart after kill -9: at the largest population, the
 * daemon's RSS, kill -9, its restart command started again on the same
 * state dir, and the time until the mount serves again (a stat of a file
 * of the population succeeds, polled every millisecond, bounded), then
 * a walk (readdir and stat of every file) to check every file came back,
 * with the RSS after each step.
 *
 * The restart command runs with sh -c in the caller's mount namespace
 * (gm-scalebench has left its private one by then) and must exec the
 * daemon in the foreground: the PID it starts is the new daemon, which
 * gm-scalebench stops (SIGTERM, bounded, then SIGKILL) when it ends.
 *
 * Not for: the per-operation figures (scale_ops.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scalebench.h"

#define POLL_US		1000
#define DEATH_BOUND_S	10

long scale_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* utime + stime of every thread of pid, in seconds; -1 if unknown. */
double scale_cpu_secs(pid_t pid)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	double secs = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	/* fields 14 and 15, counted after the ")" that ends the name */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
		secs = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	fclose(f);
	return secs;
}

static void comm_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* Gone, or a zombie (its parent, not us, has not reaped it yet). */
static int process_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int gone = 1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		gone = p[1] == ' ' && p[2] == 'Z';
	fclose(f);
	return gone;
}

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000 };

	nanosleep(&ts, NULL);
}

/* The restart command, in a process group of its own so a terminal's
 * ^C reaches gm-scalebench, which stops it. */
static pid_t spawn(const char *cmd)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Poll until probe can be stat()ed, the command exits, or the bound. */
static int wait_served(struct scale *s, struct scale_restart *r, const char *probe)
{
	double t0 = scale_now_us(), bound = s->restart_timeout * 1e6;
	struct stat st;
	int status;

	r->new_pid = spawn(s->restart_cmd);
	if (r->new_pid < 0) {
		snprintf(r->err, sizeof(r->err), "fork: %s", strerror(errno));
		r->new_pid = 0;
		return -1;
	}
	r->running = 1;
	for (;;) {
		if (stat(probe, &st) == 0)
			break;
		if (waitpid(r->new_pid, &status, WNOHANG) == r->new_pid) {
			snprintf(r->err, sizeof(r->err), "the restart command ended (status "
				 "0x%x) before %.300s could be stat()ed", status, probe);
			r->running = 0;
			return -1;
		}
		if (scale_now_us() - t0 > bound || scale_stop) {
			snprintf(r->err, sizeof(r->err), "%s: no stat of %.300s within %u s",
				 scale_stop ? "interrupted" : "timed out", probe,
				 s->restart_timeout);
			return -1;
		}
		sleep_us(POLL_US);
	}
	r->serve_ms = (scale_now_us() - t0) / 1e3;
	return 0;
}

/* readdir and stat of every file of the population: how many came back. */
static void walk(struct scale *s, struct scale_restart *r)
{
	struct scale_fs *fs = &s->fs[SC_GMEMFS];
	char path[PATH_MAX + 16];
	double t0 = scale_now_us();
	long long listed = scale_count_entries(fs, r->files);
	unsigned int i, found = 0;
	struct stat st;

	for (i = 0; i < r->files && !scale_stop; i++) {
		scale_name(path, sizeof(path), fs, 'f', i);
		found += stat(path, &st) == 0 && (uint64_t)st.st_size == s->size;
	}
	r->walk_ms = (scale_now_us() - t0) / 1e3;
	r->found = found;
	r->rss_walked_kb = scale_rss_kb(r->new_pid);
	if (listed != r->files || found != r->files)
		snprintf(r->err, sizeof(r->err), "after the restart, readdir lists %lld and stat "
			 "finds %u of the %u files (with their size)", listed, found, r->files);
}

static int kill_old(struct scale *s, struct scale_restart *r, char *comm, size_t len)
{
	double t0;

	comm_of(s->daemon_pid, comm, len);
	r->rss_before_kb = scale_rss_kb(s->daemon_pid);
	t0 = scale_now_us();
	if (kill(s->daemon_pid, SIGKILL) < 0) {
		snprintf(r->err, sizeof(r->err), "kill -9 %d: %s", (int)s->daemon_pid,
			 strerror(errno));
		return -1;
	}
	while (!process_gone(s->daemon_pid)) {
		if (scale_now_us() - t0 > DEATH_BOUND_S * 1e6) {
			snprintf(r->err, sizeof(r->err), "PID %d still there %d s after kill -9",
				 (int)s->daemon_pid, DEATH_BOUND_S);
			return -1;
		}
		sleep_us(POLL_US);
	}
	r->kill_ms = (scale_now_us() - t0) / 1e3;
	return 0;
}

void scale_restart_run(struct scale *s)
{
	struct scale_restart *r = &s->restart;
	char probe[PATH_MAX + 16], comm[64], new_comm[64];

	r->ran = 1;
	r->files = s->fs[SC_GMEMFS].nfiles;
	r->old_pid = s->daemon_pid;
	r->rss_served_kb = r->rss_walked_kb = -1;
	if (!r->files) {
		snprintf(r->err, sizeof(r->err), "no population to restart with");
		return;
	}
	scale_name(probe, sizeof(probe), &s->fs[SC_GMEMFS], 'f', 0);
	fprintf(stderr, "gm-scalebench: restart: kill -9 %d at %u files\n", (int)s->daemon_pid,
		r->files);
	if (kill_old(s, r, comm, sizeof(comm)) || wait_served(s, r, probe))
		return;
	comm_of(r->new_pid, new_comm, sizeof(new_comm));
	if (strcmp(comm, new_comm)) {
		snprintf(r->err, sizeof(r->err), "the restart command must exec the daemon: "
			 "PID %d is \"%s\", the old one was \"%s\"", (int)r->new_pid, new_comm, comm);
		return;
	}
	r->rss_served_kb = scale_rss_kb(r->new_pid);
	/* The daemon is ours now: the next restart (none) or the end stops it. */
	s->daemon_pid = r->new_pid;
	walk(s, r);
}

/* Stop the daemon the restart started: SIGTERM, a bounded wait, SIGKILL. */
void scale_restart_stop(struct scale *s)
{
	struct scale_restart *r = &s->restart;
	double t0 = scale_now_us();
	int status;

	if (!r->running)
		return;
	kill(r->new_pid, SIGTERM);
	while (waitpid(r->new_pid, &status, WNOHANG) != r->new_pid) {
		if (scale_now_us() - t0 > DEATH_BOUND_S * 1e6) {
			fprintf(stderr, "gm-scalebench: restarted daemon %d ignored SIGTERM for "
				"%d s: SIGKILL\n", (int)r->new_pid, DEATH_BOUND_S);
			kill(r->new_pid, SIGKILL);
			waitpid(r->new_pid, &status, 0);
			r->stop_status = -1;
			r->running = 0;
			r->stopped = 1;
			return;
		}
		sleep_us(POLL_US * 10);
	}
	r->stop_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r->running = 0;
	r->stopped = 1;
}
