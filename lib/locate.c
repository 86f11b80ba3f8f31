/*
 * libgmemfs: from a path on a gmemfs mount to the mount's control socket.
 * The socket's path is the read-only xattr user.gmemfs.ctl-socket of the
 * mount root, so the walk goes up from the path until a directory has it,
 * and stops where the device changes (the mount's edge).
 * Also the calls that start from a path (gmemfs_open_backing).  Uses
 * client.c to talk to the socket; client.c never calls back in here.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "gmemfs_client.h"
#include "gmemfs_ctl.h"

#define API __attribute__((visibility("default")))

/* The mount root above abs (cut in place to it) and its socket's path. */
static int locate_root(char *abs, char sock[PATH_MAX])
{
	struct stat st;
	dev_t dev;
	ssize_t n;
	char *slash;

	if (stat(abs, &st))
		return -errno;
	dev = st.st_dev;
	for (;;) {
		n = getxattr(abs, GMEMFS_XATTR_CTL_SOCKET, sock, PATH_MAX - 1);
		if (n > 0) {
			sock[n] = '\0';
			return 0;
		}
		slash = strrchr(abs, '/');
		if (!slash || slash == abs)
			return -ENOENT;
		*slash = '\0';
		if (stat(abs, &st) || st.st_dev != dev)
			return -ENOENT;	/* past the mount's edge */
	}
}

API int gmemfs_ctl_connect_path(const char *path, struct gmemfs_ctl **out, char **rel)
{
	char abs[PATH_MAX], root[PATH_MAX], sock[PATH_MAX];
	const char *r;
	int err;

	if (!realpath(path, abs))
		return -errno;
	memcpy(root, abs, sizeof(root));
	err = locate_root(root, sock);
	if (err)
		return err;
	err = gmemfs_ctl_connect(sock, out);
	if (err || !rel)
		return err;
	r = abs + strlen(root);
	while (*r == '/')
		r++;
	*rel = strdup(r);
	if (!*rel) {
		gmemfs_ctl_close(*out);
		return -ENOMEM;
	}
	return 0;
}

API int gmemfs_open_backing(const char *path, struct gmemfs_ctl_stat *st)
{
	struct gmemfs_ctl *c;
	char *rel;
	int fd;

	fd = gmemfs_ctl_connect_path(path, &c, &rel);
	if (fd)
		return fd;
	fd = gmemfs_ctl_open(c, rel, st);
	free(rel);
	gmemfs_ctl_close(c);
	return fd;
}
