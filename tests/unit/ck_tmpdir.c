/*
 * ck_tmpdir: scratch directories of the unit-test suites (see ck_tmpdir.h).
 */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "ck_tmpdir.h"
#include "common/mountinfo.h"

/* Enough for a stack of mounts a test could leave behind. */
#define SWEEP_MAX_MOUNTS	256

int ck_tmpdir_make(char *buf, size_t len, const char *tag)
{
	if ((size_t)snprintf(buf, len, "/tmp/gmemfs-check-%s-XXXXXX", tag) >= len)
		return -ENAMETOOLONG;
	return mkdtemp(buf) ? 0 : -errno;
}

int ck_tmpdir_sub(const char *base, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/t-XXXXXX", base) >= len)
		return -ENAMETOOLONG;
	return mkdtemp(buf) ? 0 : -errno;
}

/* Detach the last-listed mount below dir (the top of a stack, or a mount
 * made after those around it); false once none is left. */
static bool umount_one_below(const char *dir)
{
	char *line = NULL, *found = NULL, mnt[4096];
	size_t cap = 0, dirlen = strlen(dir);
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		gm_mountinfo_unescape(mnt);
		if (strncmp(mnt, dir, dirlen) == 0 && mnt[dirlen] == '/') {
			free(found);
			found = strdup(mnt);
		}
	}
	free(line);
	fclose(f);
	if (!found)
		return false;
	if (umount2(found, MNT_DETACH))
		fprintf(stderr, "ck_tmpdir: umount %s: %s\n", found, strerror(errno));
	free(found);
	return true;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path))
		fprintf(stderr, "ck_tmpdir: remove %s: %s\n", path, strerror(errno));
	return 0;	/* go on with the rest */
}

void ck_tmpdir_sweep(const char *dir)
{
	int n;

	if (!dir || !dir[0])
		return;
	for (n = 0; n < SWEEP_MAX_MOUNTS && umount_one_below(dir); n++)
		;
	if (n == SWEEP_MAX_MOUNTS)
		fprintf(stderr, "ck_tmpdir: %s: still mounts below after %d unmounts\n", dir, n);
	/* FTW_MOUNT: a mount that would not go keeps what is in it. */
	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) && errno != ENOENT)
		fprintf(stderr, "ck_tmpdir: sweeping %s: %s\n", dir, strerror(errno));
}
