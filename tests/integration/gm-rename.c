/*
 * gm-rename: renameat2() with the flags mv cannot ask for, so tests can
 * check RENAME_NOREPLACE and RENAME_EXCHANGE and the errno of each failure.
 *
 * Usage: gm-rename plain|noreplace|exchange OLD NEW
 * Prints "OK" or the errno name (EEXIST, ENOTEMPTY, ...).
 * Exit: 0 renamed, 1 the call failed, 2 usage.
 * Not for: anything but one rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned int flags;

	if (argc != 4)
		goto usage;
	if (!strcmp(argv[1], "plain"))
		flags = 0;
	else if (!strcmp(argv[1], "noreplace"))
		flags = RENAME_NOREPLACE;
	else if (!strcmp(argv[1], "exchange"))
		flags = RENAME_EXCHANGE;
	else
		goto usage;
	if (renameat2(AT_FDCWD, argv[2], AT_FDCWD, argv[3], flags) < 0) {
		printf("%s\n", strerrorname_np(errno));
		return 1;
	}
	printf("OK\n");
	return 0;
usage:
	fprintf(stderr, "usage: gm-rename plain|noreplace|exchange OLD NEW\n");
	return 2;
}
