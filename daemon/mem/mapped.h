/*
 * What /proc says about the daemon's objects (mem/mapped.c): whether some
 * process maps a file, and which device a mount point has.
 */
#ifndef GM_MAPPED_H
#define GM_MAPPED_H

#include <sys/types.h>

/* Is any of the objects ids[0..n) mapped by some process?
 * 1 (and the first pid found), 0, or -errno. */
struct gm_devino {
	dev_t dev;
	ino_t ino;
};
int gm_object_mapped(const struct gm_devino *ids, unsigned n, pid_t *pid);
/* The device number of the mount on top at mountpoint, from
 * /proc/self/mountinfo, or 0; opts gets its per-mount options
 * ("rw,nosuid,nodev,relatime"). */
#define GM_MOUNT_OPTS_LEN	256
dev_t gm_mount_find(const char *mountpoint, char opts[GM_MOUNT_OPTS_LEN]);

#endif
