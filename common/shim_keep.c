/*
 * The state directory's shim token, and dropping its kept files: see
 * shim_keep.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/shim_client.h"
#include "common/shim_keep.h"

static int gm_shim_token_read(const char *path, uint8_t *token)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = read(fd, token, GMEMFS_SHIM_TOKEN_MAX);
	err = n < 0 ? -errno : n == GMEMFS_SHIM_TOKEN_MAX ? 0 : -EBADMSG;
	close(fd);
	return err;
}

/* A new token, written whole under a temporary name, then renamed. */
static int gm_shim_token_make(const char *path, uint8_t *token)
{
	char tmp[4096];
	int fd, err = 0;

	if (getrandom(token, GMEMFS_SHIM_TOKEN_MAX, 0) != GMEMFS_SHIM_TOKEN_MAX)
		return -EIO;
	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, token, GMEMFS_SHIM_TOKEN_MAX) != GMEMFS_SHIM_TOKEN_MAX || fsync(fd))
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int gm_shim_token_load(const char *state_dir, bool create,
		       uint8_t token[GMEMFS_SHIM_TOKEN_MAX])
{
	char path[4096];
	int err;

	if (snprintf(path, sizeof(path), "%s/" GM_SHIM_TOKEN_FILE, state_dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	err = gm_shim_token_read(path, token);
	if (err == -ENOENT && create)
		err = gm_shim_token_make(path, token);
	return err;
}

/* Delete the registered token's files, from the lowest id on. */
static int gm_shim_forget_all(struct gm_shimc *nl, unsigned *n)
{
	struct gm_shimc_file files[GM_SHIMC_FILES_MAX];
	uint32_t next = 1;
	int got, err;

	while ((got = gm_shimc_list(nl, next, files, GM_SHIMC_FILES_MAX)) > 0)
		for (int i = 0; i < got; i++) {
			err = gm_shimc_delete(nl, files[i].id);
			if (err && err != -ENOENT)
				return err;
			*n += !err;
			next = files[i].id + 1;
		}
	return got;
}

int gm_shim_forget(const char *state_dir, unsigned *n, char *why)
{
	uint8_t token[GMEMFS_SHIM_TOKEN_MAX];
	struct gm_shimc *nl;
	struct stat st;
	int err;

	*n = 0;
	why[0] = '\0';
	err = gm_shim_token_load(state_dir, false, token);
	if (err == -ENOENT || (!err && stat("/sys/module/gmemfs", &st)))
		return 0;	/* no shim files ever, or none kept now */
	if (err)
		return err;
	err = gm_shimc_open(&nl);
	if (err)
		return err;
	err = gm_shimc_register_token(nl, token, sizeof(token));
	if (!err) {
		err = gm_shim_forget_all(nl, n);
		gm_shimc_unregister(nl);
	}
	if (err)
		snprintf(why, 128, "%s", gm_shimc_errmsg(nl)[0] ? gm_shimc_errmsg(nl) : strerror(-err));
	gm_shimc_close(nl);
	return err;
}
