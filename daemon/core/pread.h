/*
 * A pread of exactly len bytes: retried on EINTR and on short reads, so
 * that a caller sees all of it or an error.  Header-only.
 * Not for: reads where a short count is an answer (snap/format.c's
 * pread_full returns it).
 */
#ifndef GM_PREAD_H
#define GM_PREAD_H

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

/* 0, -errno, or -EIO if the file ends first. */
static inline int gm_pread_full(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	while (len) {
		n = pread(fd, buf, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		buf = (char *)buf + n;
		len -= n;
		off += n;
	}
	return 0;
}

#endif
