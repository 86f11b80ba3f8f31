/*
 * Is a file mapped by some process?  The kernel offers no such query, so
 * the daemon looks the way an operator would: every /proc/PID/maps line
 * names the device and inode it maps.  A passthrough mapping is shown
 * with the FUSE inode (the user-visible one), a mapping of a backing fd
 * with the backing's, so callers pass both.
 * Used only before shrinking a file, which is rare, so the scan's cost
 * (one pass over all processes) is acceptable.
 */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "mem/mapped.h"
#include "common/mountinfo.h"

static bool gm_devino_match(const struct gm_devino *ids, unsigned n, unsigned maj,
			    unsigned min, unsigned long long ino)
{
	for (unsigned k = 0; k < n; k++) {
		if (maj == major(ids[k].dev) && min == minor(ids[k].dev) &&
		    ino == (unsigned long long)ids[k].ino)
			return true;
	}
	return false;
}

static int gm_maps_has(pid_t pid, const struct gm_devino *ids, unsigned n)
{
	char path[64], line[512];
	unsigned maj, min;
	unsigned long long i;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;	/* gone, or a kernel thread */
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &i) == 3 &&
		    gm_devino_match(ids, n, maj, min, i))
			found = 1;
	}
	fclose(f);
	return found;
}

int gm_object_mapped(const struct gm_devino *ids, unsigned n, pid_t *pid)
{
	struct dirent *de;
	int found = 0;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return -errno;
	while (!found && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		*pid = atoi(de->d_name);
		found = gm_maps_has(*pid, ids, n);
	}
	closedir(d);
	return found;
}

dev_t gm_mount_find(const char *mountpoint, char opts[GM_MOUNT_OPTS_LEN])
{
	char line[4096], mnt[PATH_MAX], o[GM_MOUNT_OPTS_LEN];
	unsigned maj, min;
	dev_t dev = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s %255s", &maj, &min, mnt, o) != 4)
			continue;
		gm_mountinfo_unescape(mnt);
		if (strcmp(mnt, mountpoint))
			continue;
		dev = makedev(maj, min);	/* the last one is on top */
		memcpy(opts, o, sizeof(o));
	}
	fclose(f);
	return dev;
}
