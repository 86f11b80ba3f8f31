/*
 * gmemctl discard: a stopped mount's stores stay mounted under its state
 * directory so that nothing is lost across restarts; this gives their
 * memory back for good.  It proves no daemon runs by taking the lock the
 * daemon takes (and keeps it, so none starts meanwhile), detaches the dead
 * FUSE mount a crashed daemon left, asks for confirmation unless --force,
 * deletes the shim files the shim module keeps for the state directory
 * (common/shim_keep.h), unmounts every mount below the state directory,
 * gives the kernel's pool
 * back the huge pages gmemfsd added and could not give back itself (the
 * state directory's record, common/hugepages.h), and removes it.
 * Not for: a served mount (refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cli.h"
#include "common/hugepages.h"
#include "common/mountinfo.h"
#include "common/shim_keep.h"
#include "common/statedir.h"

#define DISCARD_USE "usage: gmemctl discard [--force] MOUNTPOINT|--state-dir=DIR\n"
#define DISCARD_MAX_STORES 64

/* The huge page sizes gmemfsd may add to the kernel's pool. */
static const uint64_t discard_page_sizes[] = { 2ULL << 20, 1ULL << 30 };
#define DISCARD_NSIZES (sizeof(discard_page_sizes) / sizeof(discard_page_sizes[0]))

struct discard_store {
	char *path;
	uint64_t used;
	uint64_t files;
};

struct discard {
	char *state_dir;
	char *mountpoint;	/* NULL with --state-dir */
	struct discard_store stores[DISCARD_MAX_STORES];
	int nstores;
	bool incomplete;	/* a mount below could not be recorded */
	long owed[DISCARD_NSIZES];	/* huge pages to give back, by size */
};

/*
 * Call fn(mountpoint, fstype, arg) for every mount in /proc/self/mountinfo
 * (field 5 is the mountpoint, the word after " - " the type).
 */
static int mountinfo_each(void (*fn)(const char *mnt, const char *type, void *arg), void *arg)
{
	char *line = NULL, mnt[PATH_MAX], type[256];
	size_t cap = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(sep + 3, "%255s", type) != 1)
			continue;
		gm_mountinfo_unescape(mnt);
		fn(mnt, type, arg);
	}
	free(line);
	fclose(f);
	return 0;
}

/* nftw() passes no argument through: the count of the store being walked. */
static uint64_t discard_nfiles;

static int discard_count_file(const char *path, const struct stat *st, int flag,
			      struct FTW *ftw)
{
	(void)path; (void)st; (void)ftw;
	if (flag == FTW_F)
		discard_nfiles++;
	return 0;
}

static void discard_add_store(const char *mnt, const char *type, void *arg)
{
	struct discard *d = arg;
	size_t len = strlen(d->state_dir);
	struct discard_store *s;
	struct statfs sf;

	(void)type;
	/* Only mounts below the state directory, never the one it sits on. */
	if (strncmp(mnt, d->state_dir, len) || mnt[len] != '/' || !mnt[len + 1])
		return;
	s = &d->stores[d->nstores];
	if (d->nstores < DISCARD_MAX_STORES)
		s->path = strdup(mnt);
	if (d->nstores == DISCARD_MAX_STORES || !s->path) {
		d->incomplete = true;
		return;
	}
	if (statfs(mnt, &sf) == 0)
		s->used = (uint64_t)(sf.f_blocks - sf.f_bfree) * sf.f_bsize;
	discard_nfiles = 0;
	nftw(mnt, discard_count_file, 16, FTW_PHYS | FTW_MOUNT);
	s->files = discard_nfiles;
	d->nstores++;
}

/* Deepest first, so a mount below another store goes before it. */
static int discard_store_cmp(const void *a, const void *b)
{
	const struct discard_store *x = a, *y = b;

	return strcmp(y->path, x->path);
}

/* MOUNTPOINT as the daemon names it (libfuse resolves it), or made
 * absolute by hand when a dead FUSE mount makes realpath() fail. */
static char *discard_abs_path(const char *path)
{
	char buf[PATH_MAX], cwd[PATH_MAX];
	char *out;

	if (realpath(path, buf))
		return strdup(buf);
	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

struct fuse_probe {
	const char *mountpoint;
	int nfuse;
};

static void discard_count_fuse(const char *mnt, const char *type, void *arg)
{
	struct fuse_probe *p = arg;

	if (!strcmp(mnt, p->mountpoint) && !strncmp(type, "fuse", 4))
		p->nfuse++;
}

/*
 * Called with the state directory's lock held, so no gmemfsd runs for it:
 * a FUSE mount that still answers is served by something else (refused);
 * one that answers ENOTCONN is what a crashed daemon left, detached here.
 */
static int discard_dead_mounts(const struct discard *d)
{
	struct fuse_probe p = { .mountpoint = d->mountpoint };
	struct statfs sf;

	for (int round = 0; round < 16; round++) {
		p.nfuse = 0;
		if (mountinfo_each(discard_count_fuse, &p))
			return -1;
		if (!p.nfuse)
			return 0;
		if (statfs(d->mountpoint, &sf) == 0 || errno != ENOTCONN) {
			fprintf(stderr, "gmemctl: discard: %s is still served by a FUSE "
				"daemon; stop it first (state dir %s kept)\n",
				d->mountpoint, d->state_dir);
			return -1;
		}
		if (umount2(d->mountpoint, MNT_DETACH)) {
			fprintf(stderr, "gmemctl: discard: detaching the dead mount at %s: %s\n",
				d->mountpoint, strerror(errno));
			return -1;
		}
		printf("detached the dead FUSE mount at %s\n", d->mountpoint);
	}
	fprintf(stderr, "gmemctl: discard: too many FUSE mounts stacked at %s\n",
		d->mountpoint);
	return -1;
}

static void discard_list(const struct discard *d, FILE *f, const char *verb)
{
	char sz[GMCTL_SIZE_LEN];

	for (int i = 0; i < d->nstores; i++)
		fprintf(f, "%s %s: %s in %llu files\n", verb, d->stores[i].path,
			gmctl_size(sz, d->stores[i].used),
			(unsigned long long)d->stores[i].files);
}

/* The record of huge pages gmemfsd added and still owes the kernel. */
static int discard_read_owed(struct discard *d)
{
	for (size_t i = 0; i < DISCARD_NSIZES; i++) {
		int err = gm_hugepages_owed_get(d->state_dir, discard_page_sizes[i], &d->owed[i]);

		if (err) {
			fprintf(stderr, "gmemctl: discard: %s: cannot read its record of huge "
				"pages added to the kernel's pool: %s\n", d->state_dir,
				strerror(-err));
			return -1;
		}
	}
	return 0;
}

static void discard_list_owed(const struct discard *d, const char *verb)
{
	char sz[GMCTL_SIZE_LEN];

	for (size_t i = 0; i < DISCARD_NSIZES; i++)
		if (d->owed[i])
			printf("%s %ld huge pages of %s to the kernel's pool\n", verb,
			       d->owed[i], gmctl_size(sz, discard_page_sizes[i]));
}

/*
 * After the stores are gone their pages are free in the kernel's pool; take
 * out what gmemfsd put in.  A page a detached store's user still maps is
 * not free: a 2 MiB one becomes surplus and goes when it is let go, a 1 GiB
 * one stays (said, with what is left).
 */
static void discard_give_back(const struct discard *d)
{
	char sz[GMCTL_SIZE_LEN];
	long done;

	for (size_t i = 0; i < DISCARD_NSIZES; i++) {
		if (!d->owed[i])
			continue;
		gmctl_size(sz, discard_page_sizes[i]);
		if (gm_hugepages_add(discard_page_sizes[i], -d->owed[i], &done) ||
		    -done < d->owed[i])
			fprintf(stderr, "gmemctl: discard: gave %ld of the %ld huge pages of %s "
				"gmemfsd added back to the kernel's pool; the rest are in use "
				"and stay in nr_hugepages\n", -done, d->owed[i], sz);
		else
			printf("gave %ld huge pages of %s back to the kernel's pool\n", -done, sz);
		/* Done with, either way: a second discard must not take them again. */
		gm_hugepages_owed_set(d->state_dir, discard_page_sizes[i], 0);
	}
}

/* Ask on the terminal; without one the caller must have said --force. */
static bool discard_confirmed(const struct discard *d)
{
	char answer[16];

	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "gmemctl: discard: stdin is not a terminal, so nobody can "
			"confirm: pass --force to discard %s\n", d->state_dir);
		return false;
	}
	discard_list(d, stdout, "will unmount");
	discard_list_owed(d, "will give back");
	printf("will remove %s and everything in it.\nType yes to go on: ", d->state_dir);
	fflush(stdout);
	if (!fgets(answer, sizeof(answer), stdin) || strcmp(answer, "yes\n")) {
		fprintf(stderr, "gmemctl: discard: not confirmed; %s kept\n", d->state_dir);
		return false;
	}
	return true;
}

static int discard_remove_entry(const char *path, const struct stat *st, int flag,
				struct FTW *ftw)
{
	(void)st; (void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT) {
		fprintf(stderr, "gmemctl: discard: removing %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * Unmount the stores, deepest first.  A store a process still maps (a VMM
 * left running) cannot be unmounted: it is detached, and its memory goes
 * back when that process lets go.
 */
static int discard_unmount(struct discard *d)
{
	int err = 0;

	qsort(d->stores, d->nstores, sizeof(d->stores[0]), discard_store_cmp);
	for (int i = 0; i < d->nstores; i++) {
		const char *path = d->stores[i].path;

		if (umount2(path, 0) == 0)
			continue;
		if (errno == EBUSY && umount2(path, MNT_DETACH) == 0) {
			fprintf(stderr, "gmemctl: discard: %s is still in use by a process: "
				"detached; its memory goes back when that process lets go\n", path);
			continue;
		}
		fprintf(stderr, "gmemctl: discard: unmounting %s: %s\n", path, strerror(errno));
		err = -1;
	}
	return err;
}

/*
 * The default control socket a killed daemon left beside the state dir
 * (a stopped one removes its own).  Stale for sure: the lock is ours.
 * Removed while the lock is still held, so a new daemon's is never hit.
 */
static int discard_stale_socket(const struct discard *d)
{
	char *sock = gm_state_dir_socket(d->state_dir);
	struct stat st;
	int err = 0;

	if (!sock)
		return -1;
	if (lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
		if (unlink(sock) == 0) {
			printf("removed the stale control socket %s\n", sock);
		} else {
			fprintf(stderr, "gmemctl: discard: removing %s: %s\n", sock,
				strerror(errno));
			err = -1;
		}
	}
	free(sock);
	return err;
}

/* The shim module keeps this directory's shim files, not a store: delete
 * them first, so that a refusal leaves everything (token included) as it was. */
static int discard_shim(const struct discard *d)
{
	char why[128];
	unsigned n;
	int err;

	err = gm_shim_forget(d->state_dir, &n, why);
	if (err) {
		fprintf(stderr, "gmemctl: discard: %s: cannot delete its shim files: %s%s "
			"(state dir kept)\n", d->state_dir, why,
			err == -EBUSY ? "; another gmemfsd steers the shim module now, stop it "
			"first" : "");
		return -1;
	}
	if (n)
		printf("deleted %u shim files\n", n);
	return 0;
}

static int discard_run(struct discard *d, bool force)
{
	uint64_t used = 0, files = 0;
	char sz[GMCTL_SIZE_LEN];

	if (d->mountpoint && discard_dead_mounts(d))
		return 1;
	if (mountinfo_each(discard_add_store, d) || d->incomplete) {
		fprintf(stderr, "gmemctl: discard: cannot list the mounts below %s%s\n",
			d->state_dir, d->incomplete ? " (too many, or out of memory)" : "");
		return 1;
	}
	if (discard_read_owed(d))
		return 1;
	if (!force && !discard_confirmed(d))
		return 1;
	if (discard_shim(d))
		return 1;
	if (discard_unmount(d) || discard_stale_socket(d))
		return 1;
	discard_give_back(d);
	if (nftw(d->state_dir, discard_remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT))
		return 1;
	discard_list(d, stdout, "unmounted");
	for (int i = 0; i < d->nstores; i++) {
		used += d->stores[i].used;
		files += d->stores[i].files;
	}
	printf("freed %s in %llu files from %d stores; removed %s\n", gmctl_size(sz, used),
	       (unsigned long long)files, d->nstores, d->state_dir);
	return 0;
}

static int discard_args(int argc, char **argv, struct discard *d, bool *force)
{
	const char *dir = NULL, *mnt = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f"))
			*force = true;
		else if (!strncmp(argv[i], "--state-dir=", 12) && !dir)
			dir = argv[i] + 12;
		else if (argv[i][0] != '-' && !mnt)
			mnt = argv[i];
		else
			return -1;
	}
	if (!dir == !mnt)
		return -1;
	if (mnt) {
		d->mountpoint = discard_abs_path(mnt);
		d->state_dir = d->mountpoint ? gm_state_dir_default(d->mountpoint) : NULL;
	} else {
		d->state_dir = discard_abs_path(dir);
	}
	return d->state_dir ? 0 : -1;
}

int cmd_discard(int argc, char **argv)
{
	struct discard d = { 0 };
	bool force = false;
	struct stat st;
	int lock_fd, rc = 2;

	if (discard_args(argc, argv, &d, &force)) {
		fputs(DISCARD_USE, stderr);
		goto out;
	}
	rc = 1;
	if (stat(d.state_dir, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "gmemctl: discard: no state dir %s\n", d.state_dir);
		goto out;
	}
	/* Held until the directory is gone: no gmemfsd starts on it meanwhile. */
	lock_fd = gm_state_dir_lock(d.state_dir);
	if (lock_fd < 0) {
		fprintf(stderr, "gmemctl: discard: %s: %s\n", d.state_dir, lock_fd == -EBUSY ?
			"a gmemfsd holds its lock and still runs; stop it first" :
			strerror(-lock_fd));
		goto out;
	}
	rc = discard_run(&d, force);
	close(lock_fd);
out:
	for (int i = 0; i < d.nstores; i++)
		free(d.stores[i].path);
	free(d.state_dir);
	free(d.mountpoint);
	return rc;
}
