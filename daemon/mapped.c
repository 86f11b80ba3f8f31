/*
 * Is a backing object mapped by some process?  The kernel keeps no
 * question-able count for this, so the daemon looks the way an operator
 * would: every /proc/PID/maps line names the device and inode it maps.
 * Used only before shrinking a file, which is rare, so the scan's cost
 * (one pass over all processes) is acceptable.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysmacros.h>

#include "fsops.h"

static int gm_maps_has(pid_t pid, dev_t dev, ino_t ino)
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
		    maj == major(dev) && min == minor(dev) && i == (unsigned long long)ino)
			found = 1;
	}
	fclose(f);
	return found;
}

int gm_object_mapped(dev_t dev, ino_t ino, pid_t *pid)
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
		found = gm_maps_has(*pid, dev, ino);
	}
	closedir(d);
	return found;
}
