/*
 * gmemctl's shared helpers (cli.h): the one size formatter every command
 * prints through, and the one way a command connects.
 * Not for: a command's own output (cmd_*.c, gmemctl.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool gmctl_exact_bytes;

const char *gmctl_size(char out[GMCTL_SIZE_LEN], uint64_t bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned u = 0;
	unsigned __int128 tenths;

	if (gmctl_exact_bytes) {
		snprintf(out, GMCTL_SIZE_LEN, "%llu", (unsigned long long)bytes);
		return out;
	}
	while (u < 6 && bytes >> (10 * (u + 1)))
		u++;
	if (!(bytes & ((1ULL << (10 * u)) - 1))) {
		snprintf(out, GMCTL_SIZE_LEN, "%llu %s", (unsigned long long)(bytes >> (10 * u)),
			 unit[u]);
		return out;
	}
	/* Nearest tenth, half up; 1023.95 KiB and above rounds into the next unit. */
	tenths = ((unsigned __int128)bytes * 10 + (1ULL << (10 * u)) / 2) >> (10 * u);
	if (tenths >= 10240 && u < 6) {
		u++;
		tenths = ((unsigned __int128)bytes * 10 + (1ULL << (10 * u)) / 2) >> (10 * u);
	}
	snprintf(out, GMCTL_SIZE_LEN, "%u.%u %s", (unsigned)(tenths / 10), (unsigned)(tenths % 10),
		 unit[u]);
	return out;
}

int gmctl_connect(const char *sock_path, const char *path, struct gmemfs_ctl **c,
		  char **rel)
{
	int err;

	if (!sock_path)
		return gmemfs_ctl_connect_path(path, c, rel);
	err = gmemfs_ctl_connect(sock_path, c);
	if (err)
		return err;
	*rel = strdup(path);
	if (!*rel) {
		gmemfs_ctl_close(*c);
		*c = NULL;
		return -ENOMEM;
	}
	return 0;
}
