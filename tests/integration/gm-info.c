/*
 * gm-info: ask gmemfsd what backs an open file (GMEMFS_IOC_INFO) and print
 * the answer as key=value lines, next to what fstat() says, so tests can
 * compare the two.  With --bad, check instead that the ioctl rejects a
 * nonzero in_flags, __pad or reserved[] word with EINVAL.
 *
 * Usage: gm-info [--bad] FILE | gm-info [--bad] --fd N
 * Exit: 0 ok, 1 the ioctl misbehaved, 2 usage or open error.
 * Not for: changing anything about the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gmemfs.h"

static int print_info(int fd)
{
	struct gmemfs_info info;
	struct stat st;

	memset(&info, 0, sizeof(info));
	if (ioctl(fd, GMEMFS_IOC_INFO, &info) < 0) {
		printf("error=%s\n", strerrorname_np(errno));
		return 1;
	}
	if (fstat(fd, &st) < 0)
		return 2;
	printf("provider=%u\nprovider_name=%s\nid=%llu\nino=%llu\n", info.provider,
	       gmemfs_prov_name(info.provider), (unsigned long long)info.id,
	       (unsigned long long)st.st_ino);
	printf("size=%llu\nst_size=%lld\npopulated=%llu\nst_blocks_bytes=%lld\n",
	       (unsigned long long)info.size, (long long)st.st_size,
	       (unsigned long long)info.populated, (long long)st.st_blocks * 512);
	printf("page_size=%llu\nflags=%#x\npassthrough=%d\nunlinked=%d\n",
	       (unsigned long long)info.page_size, info.flags,
	       !!(info.flags & GMEMFS_INFO_PASSTHROUGH),
	       !!(info.flags & GMEMFS_INFO_UNLINKED));
	return 0;
}

/* One malformed request; 0 if it got EINVAL. */
static int expect_einval(int fd, const char *what, struct gmemfs_info *info)
{
	int rc = ioctl(fd, GMEMFS_IOC_INFO, info);
	int err = errno;

	printf("%s: %s\n", what, rc == 0 ? "accepted" : strerrorname_np(err));
	return rc < 0 && err == EINVAL ? 0 : 1;
}

static int check_bad(int fd)
{
	struct gmemfs_info info;
	int bad = 0;

	memset(&info, 0, sizeof(info));
	info.in_flags = 1;
	bad |= expect_einval(fd, "in_flags=1", &info);

	memset(&info, 0, sizeof(info));
	info.__pad = 1;
	bad |= expect_einval(fd, "__pad=1", &info);

	memset(&info, 0, sizeof(info));
	info.reserved[3] = 1;
	bad |= expect_einval(fd, "reserved[3]=1", &info);

	/* The well-formed request must still work on the same fd. */
	memset(&info, 0, sizeof(info));
	if (ioctl(fd, GMEMFS_IOC_INFO, &info) < 0) {
		printf("valid request: %s\n", strerrorname_np(errno));
		bad = 1;
	}
	return bad;
}

int main(int argc, char **argv)
{
	int bad = 0, fd, rc, i = 1;

	if (i < argc && !strcmp(argv[i], "--bad")) {
		bad = 1;
		i++;
	}
	if (i + 2 == argc && !strcmp(argv[i], "--fd")) {
		fd = atoi(argv[i + 1]);
	} else if (i + 1 == argc) {
		fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "gm-info: open %s: %s\n", argv[i], strerror(errno));
			return 2;
		}
	} else {
		fprintf(stderr, "usage: gm-info [--bad] FILE | gm-info [--bad] --fd N\n");
		return 2;
	}
	rc = bad ? check_bad(fd) : print_info(fd);
	close(fd);
	return rc;
}
