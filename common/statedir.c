/*
 * State-directory naming and locking (see statedir.h).
 * Not for: what lives inside (mem/pool.c, meta/journal.c own their parts).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/statedir.h"

static bool gm_path_char_plain(char c, bool first)
{
	if (c == '.')
		return !first;
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == ':' || c == '_';
}

int gm_path_escape(const char *path, char *buf, size_t cap)
{
	size_t n = 0, len;
	const char *p;

	while (*path == '/')
		path++;
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		len--;
	if (len == 0) {
		if (cap < 2)
			return -ENAMETOOLONG;
		strcpy(buf, "-");
		return 0;
	}
	for (p = path; p < path + len; p++) {
		char tmp[5];
		const char *out = tmp;

		if (*p == '/') {
			while (p + 1 < path + len && p[1] == '/')
				p++;	/* "a//b" names the same directory as "a/b" */
			tmp[0] = '-';
			tmp[1] = '\0';
		} else if (gm_path_char_plain(*p, p == path)) {
			tmp[0] = *p;
			tmp[1] = '\0';
		} else {
			snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned char)*p);
		}
		if (n + strlen(out) + 1 > cap)
			return -ENAMETOOLONG;
		strcpy(buf + n, out);
		n += strlen(out);
	}
	return 0;
}

char *gm_state_dir_default(const char *mountpoint)
{
	char name[256];
	char *dir;

	if (gm_path_escape(mountpoint, name, sizeof(name)))
		return NULL;
	if (asprintf(&dir, "%s/%s", GM_STATE_ROOT, name) < 0)
		return NULL;
	return dir;
}

char *gm_state_dir_socket(const char *dir)
{
	char *path;

	if (asprintf(&path, "%s.sock", dir) < 0)
		return NULL;
	return path;
}

int gm_state_dir_prepare(const char *dir)
{
	char path[4096];
	size_t len = strlen(dir);
	int err;

	err = -ENAMETOOLONG;
	if (len == 0 || len >= sizeof(path))
		return err;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

int gm_state_dir_lock(const char *dir)
{
	char path[4096];
	int fd, err;

	err = -ENAMETOOLONG;
	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path))
		return err;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return err;
	}
	return fd;
}
