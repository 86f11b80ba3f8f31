/*
 * gm-scalebench's operations: filling a directory to a population, and
 * one timed batch of each metadata operation at that population.  Each
 * batch counts the operations that really completed (stat: with the
 * file's size; getxattr: with the value set; readdir: the population's
 * entries seen), so a figure is never printed for work that did not happen,
 * and names the call, the file and the errno of the first failure.
 *
 * Files of the population are f0000000, f0000001...; a batch picks its
 * files spread over the whole population, shifted each round.  Batches
 * that add files (create, unlink's victims) or rename them put every
 * name back untimed, so the population is the same for every batch.
 *
 * Not for: the order of batches (scalebench.c) or output (scale_report.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "scalebench.h"

#define XATTR_NAME	"user.gmscale"
#define XATTR_VALUE	"gm-scalebench-v1"
#define PAGE		4096

void scale_name(char *buf, size_t len, const struct scale_fs *fs, char kind, unsigned int i)
{
	snprintf(buf, len, "%s/%c%07u", fs->dir, kind, i);
}

static int job_err(struct scale_job *job, const char *call, const char *path, int err)
{
	if (!job->err[0])
		snprintf(job->err, sizeof(job->err), "%s %.300s: %s", call, path, strerror(-err));
	return err;
}

static int not_supported(int err)
{
	return err == -EOPNOTSUPP || err == -ENOSYS;
}

/* The k-th file of a batch: spread evenly over the population, shifted
 * by the round so rounds do not all hit the same files. */
static unsigned int pick(const struct scale_job *job, unsigned int k)
{
	unsigned int n = job->fs->nfiles, stride = n / job->batch;

	return (k * stride + job->round % (stride ? stride : 1)) % n;
}

/* A file of size bytes by the cheapest path: mknod and truncate (two
 * requests to a FUSE daemon, against four for open+ftruncate+close). */
static int make_file(const struct scale *s, const char *path, const char **call)
{
	*call = "mknod";
	if (mknod(path, S_IFREG | 0600, 0) < 0)
		return -errno;
	*call = "truncate";
	if (s->size && truncate(path, (off_t)s->size) < 0)
		return -errno;
	return 0;
}

int scale_populate_to(struct scale *s, struct scale_fs *fs, unsigned int n,
		      struct scale_populate *p)
{
	char path[PATH_MAX + 16];
	const char *call;
	double t0 = scale_now_us(), shown = t0;
	int err = 0;

	p->added = 0;
	while (fs->nfiles < n && !scale_stop) {
		/* a line every 10 s: 100,000 files may take minutes on a slow daemon */
		if (!(fs->nfiles % 256) && scale_now_us() - shown > 10e6) {
			shown = scale_now_us();
			fprintf(stderr, "gm-scalebench: populating %s: %u of %u files (%.0f s)\n",
				fs->name, fs->nfiles, n, (shown - t0) / 1e6);
		}
		scale_name(path, sizeof(path), fs, 'f', fs->nfiles);
		err = make_file(s, path, &call);
		if (err) {
			snprintf(p->err, sizeof(p->err), "file %u of %u: %s %.300s: %s",
				 fs->nfiles + 1, n, call, path, strerror(-err));
			/* a mknod that worked before its truncate failed */
			unlink(path);
			break;
		}
		fs->nfiles++;
		p->added++;
	}
	p->secs = (scale_now_us() - t0) / 1e6;
	if (!err && scale_stop) {
		snprintf(p->err, sizeof(p->err), "interrupted at file %u of %u", fs->nfiles + 1, n);
		err = -EINTR;
	}
	return err;
}

/* Remove every entry of fs's directory, ours or left by a failed batch;
 * gives up at the first ENOTCONN (a dead daemon answers nothing). */
int scale_unpopulate(struct scale *s, struct scale_fs *fs)
{
	char path[PATH_MAX + 300];
	struct dirent *de;
	int pass, left = 1;
	DIR *d;

	(void)s;
	for (pass = 0; pass < 3 && left; pass++) {
		d = opendir(fs->dir);
		if (!d)
			return errno == ENOENT ? 0 : -errno;
		left = 0;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(path, sizeof(path), "%s/%s", fs->dir, de->d_name);
			if (unlink(path) < 0 && errno == ENOTCONN) {
				closedir(d);
				return -ENOTCONN;
			}
			left = 1;
		}
		closedir(d);
	}
	fs->nfiles = 0;
	return 0;
}

/* Entries of the population (f + 7 digits, below n) in one pass over the
 * directory, or -errno. */
long long scale_count_entries(const struct scale_fs *fs, unsigned int n)
{
	struct dirent *de;
	long long found = 0;
	DIR *d = opendir(fs->dir);

	if (!d)
		return -errno;
	errno = 0;
	while ((de = readdir(d)))
		found += de->d_name[0] == 'f' && strlen(de->d_name) == 8 &&
			 strtoul(de->d_name + 1, NULL, 10) < n;
	if (errno)
		found = -errno;
	closedir(d);
	return found;
}

/* --- operations ----------------------------------------------------------- */

static void sample_done(struct scale_job *job, double t0, double ops, long long check)
{
	job->sample.total_us = scale_now_us() - t0;
	job->sample.value = ops > 0 ? job->sample.total_us / ops : 0;
	job->sample.check = check;
}

/* open(O_CREAT|O_EXCL) + ftruncate + close of new files; removed untimed. */
static int op_create(struct scale *s, struct scale_job *job)
{
	char path[PATH_MAX + 16];
	unsigned int k, done = 0;
	int err = 0, fd;
	double t0 = scale_now_us();

	for (k = 0; k < job->batch && !err; k++) {
		scale_name(path, sizeof(path), job->fs, 'c', k);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0) {
			err = job_err(job, "open(O_CREAT)", path, -errno);
			break;
		}
		if (s->size && ftruncate(fd, (off_t)s->size) < 0)
			err = job_err(job, "ftruncate", path, -errno);
		if (close(fd) < 0 && !err)
			err = job_err(job, "close", path, -errno);
		done += !err;
	}
	sample_done(job, t0, done, done);
	for (k = 0; k < job->batch; k++) {
		scale_name(path, sizeof(path), job->fs, 'c', k);
		if (unlink(path) < 0 && errno != ENOENT && !err)
			err = job_err(job, "unlink", path, -errno);
	}
	return err;
}

/* Open the batch's files, untimed: fds[k] or -1. */
static int open_batch(struct scale_job *job, int *fds)
{
	char path[PATH_MAX + 16];
	unsigned int k;
	int err = 0;

	for (k = 0; k < job->batch; k++)
		fds[k] = -1;
	for (k = 0; k < job->batch && !err; k++) {
		scale_name(path, sizeof(path), job->fs, 'f', pick(job, k));
		fds[k] = open(path, O_RDWR | O_CLOEXEC);
		if (fds[k] < 0)
			err = job_err(job, "open", path, -errno);
	}
	return err;
}

/* A call on the k-th file of the batch failed: name the file. */
static int batch_err(struct scale_job *job, const char *call, unsigned int k, int err)
{
	char path[PATH_MAX + 16];

	scale_name(path, sizeof(path), job->fs, 'f', pick(job, k));
	return job_err(job, call, path, err);
}

static void close_batch(struct scale_job *job, int *fds)
{
	unsigned int k;

	for (k = 0; k < job->batch; k++)
		if (fds[k] >= 0)
			close(fds[k]);
}

/* ftruncate of open files: one page longer and back, two calls a file,
 * so every call really changes the size. */
static int op_truncate(struct scale *s, struct scale_job *job)
{
	int *fds = calloc(job->batch, sizeof(*fds)), err;
	unsigned int k, done = 0;
	double t0;

	if (!fds)
		return -ENOMEM;
	err = open_batch(job, fds);
	t0 = scale_now_us();
	for (k = 0; k < job->batch && !err; k++) {
		if (ftruncate(fds[k], (off_t)s->size + PAGE) < 0 ||
		    ftruncate(fds[k], (off_t)s->size) < 0)
			err = batch_err(job, "ftruncate", k, -errno);
		else
			done += 2;
	}
	sample_done(job, t0, done, done);
	close_batch(job, fds);
	free(fds);
	return err;
}

/* fallocate of one page of open files; punched back untimed. */
static int op_fallocate(struct scale *s, struct scale_job *job)
{
	int *fds = calloc(job->batch, sizeof(*fds)), err;
	unsigned int k, done = 0;
	struct stat st;
	double t0;

	(void)s;
	if (!fds)
		return -ENOMEM;
	err = open_batch(job, fds);
	t0 = scale_now_us();
	for (k = 0; k < job->batch && !err; k++) {
		if (fallocate(fds[k], 0, 0, PAGE) < 0)
			err = batch_err(job, "fallocate", k, -errno);
		else
			done++;
	}
	sample_done(job, t0, done, done);
	/* Evidence: the last file holds the page. */
	if (!err && done && (fstat(fds[done - 1], &st) < 0 || st.st_blocks == 0))
		err = batch_err(job, "fstat after fallocate: no blocks in", done - 1, -EIO);
	for (k = 0; k < done; k++)
		if (fallocate(fds[k], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE) < 0 &&
		    !err)
			err = batch_err(job, "fallocate(PUNCH_HOLE)", k, -errno);
	close_batch(job, fds);
	free(fds);
	if (not_supported(err))
		snprintf(job->err, sizeof(job->err), "fallocate: %s", strerror(-err));
	return not_supported(err) ? -EOPNOTSUPP : err;
}

static int op_open(struct scale *s, struct scale_job *job)
{
	char path[PATH_MAX + 16];
	unsigned int k, done = 0;
	double t0 = scale_now_us();
	int err = 0;

	(void)s;
	for (k = 0; k < job->batch && !err; k++) {
		int fd;

		scale_name(path, sizeof(path), job->fs, 'f', pick(job, k));
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			err = job_err(job, "open", path, -errno);
		else if (close(fd) < 0)
			err = job_err(job, "close", path, -errno);
		else
			done++;
	}
	sample_done(job, t0, done, done);
	return err;
}

/* stat; check counts the files that had the size they were given. */
static int op_stat(struct scale *s, struct scale_job *job)
{
	char path[PATH_MAX + 16];
	unsigned int k, right = 0, done = 0;
	double t0 = scale_now_us();
	struct stat st;
	int err = 0;

	for (k = 0; k < job->batch && !err; k++) {
		scale_name(path, sizeof(path), job->fs, 'f', pick(job, k));
		if (stat(path, &st) < 0) {
			err = job_err(job, "stat", path, -errno);
			break;
		}
		done++;
		right += (uint64_t)st.st_size == s->size;
	}
	sample_done(job, t0, done, right);
	if (!err && right != done)
		err = job_err(job, "stat: a file has not the size it was given", job->fs->dir, -EIO);
	return err;
}

/* batch whole passes of readdir; value per entry, total_us per pass,
 * check the population's entries seen in the last pass. */
static int op_readdir(struct scale *s, struct scale_job *job)
{
	long long entries = 0, found = 0;
	unsigned int pass;
	struct dirent *de;
	double t0 = scale_now_us();
	int err = 0;

	(void)s;
	for (pass = 0; pass < job->batch && !err; pass++) {
		DIR *d = opendir(job->fs->dir);

		if (!d) {
			err = job_err(job, "opendir", job->fs->dir, -errno);
			break;
		}
		found = 0;
		errno = 0;
		while ((de = readdir(d))) {
			entries++;
			found += de->d_name[0] == 'f';
		}
		if (errno)
			err = job_err(job, "readdir", job->fs->dir, -errno);
		closedir(d);
	}
	sample_done(job, t0, (double)entries, found);
	job->sample.total_us /= pass ? pass : 1;
	if (!err && found != job->fs->nfiles)
		err = job_err(job, "readdir: entries missing from", job->fs->dir, -EIO);
	return err;
}

/* rename f -> r and back, both timed: two renames a file. */
static int op_rename(struct scale *s, struct scale_job *job)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16];
	unsigned int k, done = 0;
	double t0 = scale_now_us();
	int err = 0;

	(void)s;
	for (k = 0; k < job->batch && !err; k++) {
		unsigned int i = pick(job, k);

		scale_name(from, sizeof(from), job->fs, 'f', i);
		scale_name(to, sizeof(to), job->fs, 'r', i);
		if (rename(from, to) < 0) {
			err = job_err(job, "rename", from, -errno);
			break;
		}
		if (rename(to, from) < 0)
			err = job_err(job, "rename", to, -errno);
		else
			done += 2;
	}
	sample_done(job, t0, done, done);
	return err;
}

/* unlink of files made untimed just before. */
static int op_unlink(struct scale *s, struct scale_job *job)
{
	char path[PATH_MAX + 16];
	unsigned int k, made = 0, done = 0;
	const char *call;
	double t0;
	int err = 0;

	for (; made < job->batch && !err; made++) {
		scale_name(path, sizeof(path), job->fs, 'u', made);
		err = make_file(s, path, &call);
		if (err)
			job_err(job, call, path, err);
	}
	t0 = scale_now_us();
	for (k = 0; k < made && !err; k++) {
		scale_name(path, sizeof(path), job->fs, 'u', k);
		if (unlink(path) < 0)
			err = job_err(job, "unlink", path, -errno);
		else
			done++;
	}
	sample_done(job, t0, done, done);
	return err;
}

static int xattr_result(struct scale_job *job, int err)
{
	if (!not_supported(err) && err != -ENOTSUP)
		return err;
	snprintf(job->err, sizeof(job->err), "user.* xattrs: %s", strerror(-err));
	return -EOPNOTSUPP;
}

/* setxattr of the batch's files (untimed unless timed), 0 or -errno. */
static int set_batch(struct scale_job *job, unsigned int *done)
{
	char path[PATH_MAX + 16];
	unsigned int k;

	for (k = 0; k < job->batch; k++) {
		scale_name(path, sizeof(path), job->fs, 'f', pick(job, k));
		if (setxattr(path, XATTR_NAME, XATTR_VALUE, sizeof(XATTR_VALUE) - 1, 0) < 0)
			return job_err(job, "setxattr", path, -errno);
		(*done)++;
	}
	return 0;
}

static int op_setxattr(struct scale *s, struct scale_job *job)
{
	unsigned int done = 0;
	double t0 = scale_now_us();
	int err = set_batch(job, &done);

	(void)s;
	sample_done(job, t0, done, done);
	return xattr_result(job, err);
}

/* getxattr after an untimed setxattr; check counts the right values. */
static int op_getxattr(struct scale *s, struct scale_job *job)
{
	char path[PATH_MAX + 16], buf[64];
	unsigned int k, set = 0, done = 0, right = 0;
	double t0;
	int err = set_batch(job, &set);

	(void)s;
	if (err)
		return xattr_result(job, err);
	t0 = scale_now_us();
	for (k = 0; k < job->batch && !err; k++) {
		ssize_t n;

		scale_name(path, sizeof(path), job->fs, 'f', pick(job, k));
		n = getxattr(path, XATTR_NAME, buf, sizeof(buf));
		if (n < 0) {
			err = job_err(job, "getxattr", path, -errno);
			break;
		}
		done++;
		right += n == sizeof(XATTR_VALUE) - 1 && !memcmp(buf, XATTR_VALUE, (size_t)n);
	}
	sample_done(job, t0, done, right);
	if (!err && right != done)
		err = job_err(job, "getxattr: a value is not the one set", job->fs->dir, -EIO);
	return xattr_result(job, err);
}

/* open + mmap of the whole file + munmap + close, as a VMM maps its RAM. */
static int op_open_mmap(struct scale *s, struct scale_job *job)
{
	size_t len = s->size ? (size_t)s->size : PAGE;
	char path[PATH_MAX + 16];
	unsigned int k, done = 0;
	double t0 = scale_now_us();
	int err = 0;

	for (k = 0; k < job->batch && !err; k++) {
		void *p;
		int fd;

		scale_name(path, sizeof(path), job->fs, 'f', pick(job, k));
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			err = job_err(job, "open", path, -errno);
			break;
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			err = job_err(job, "mmap", path, -errno);
		else if (munmap(p, len) < 0)
			err = job_err(job, "munmap", path, -errno);
		close(fd);
		done += !err;
	}
	sample_done(job, t0, done, done);
	return err;
}

const struct scale_op scale_ops[] = {
	{ "create", "open(O_CREAT)+ftruncate+close of a new file", "us/op", op_create },
	{ "truncate", "ftruncate of an open file (one page up, then back)", "us/op", op_truncate },
	{ "fallocate", "fallocate of one page of an open file", "us/op", op_fallocate },
	{ "open", "open+close", "us/op", op_open },
	{ "stat", "stat", "us/op", op_stat },
	{ "readdir", "readdir of the whole directory", "us/entry", op_readdir },
	{ "rename", "rename within the directory", "us/op", op_rename },
	{ "unlink", "unlink", "us/op", op_unlink },
	{ "setxattr", "setxattr user.*", "us/op", op_setxattr },
	{ "getxattr", "getxattr user.*", "us/op", op_getxattr },
	{ "open-mmap", "open+mmap+munmap+close", "us/op", op_open_mmap },
};
const unsigned int scale_nops = sizeof(scale_ops) / sizeof(scale_ops[0]);
_Static_assert(sizeof(scale_ops) / sizeof(scale_ops[0]) <= SC_MAX_OPS, "raise SC_MAX_OPS");
