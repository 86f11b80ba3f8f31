/*
 * /proc/self/fd/N: the path that names what the daemon's fd N refers to,
 * for calls that take a path rather than an fd (mount(2) on a store's
 * root, a reopen with its own file description, readlink of what an fd
 * is).  Header-only.  Not for: paths under a directory fd (openat).
 */
#ifndef GM_FD_PATH_H
#define GM_FD_PATH_H

#include <errno.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#define GM_FD_PATH_LEN	32

static inline const char *gm_fd_path(char buf[GM_FD_PATH_LEN], int fd)
{
	snprintf(buf, GM_FD_PATH_LEN, "/proc/self/fd/%d", fd);
	return buf;
}

/* What fd refers to, as /proc shows it ("/memfd:x", "anon_inode:[...]"),
 * cut to len - 1 bytes and terminated; -errno if it cannot be read. */
static inline int gm_fd_target(int fd, char *target, size_t len)
{
	char path[GM_FD_PATH_LEN];
	ssize_t n = readlink(gm_fd_path(path, fd), target, len - 1);

	if (n < 0)
		return -errno;
	target[n] = '\0';
	return 0;
}

#endif
