/*
 * The kernel's huge page pool and a state directory's record of what was
 * added to it (see hugepages.h).
 * Not for: hugetlbfs stores (daemon/prov/hugetlb.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "common/hugepages.h"

static void hugepages_file(uint64_t page_size, const char *name, char *path, size_t len)
{
	snprintf(path, len, "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/%s",
		 page_size >> 10, name);
}

static int hugepages_read_count(const char *path, long *val)
{
	FILE *f = fopen(path, "re");
	int err = 0;
	char nl;

	if (!f)
		return -errno;
	if (fscanf(f, "%ld%c", val, &nl) != 2 || nl != '\n' || *val < 0)
		err = -EIO;
	fclose(f);
	return err;
}

static int hugepages_write_count(const char *path, int flags, long val)
{
	char buf[32];
	int fd, n, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0600);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%ld\n", val);
	if (write(fd, buf, (size_t)n) != n)
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

/*
 * The persistent pool: nr_hugepages reads back every page, surplus ones
 * included, but a write sets the persistent count.  A page in use when the
 * pool shrinks below it becomes surplus (freed when let go), so it has
 * left the persistent pool: that counts as given back.
 */
static int hugepages_persistent(uint64_t page_size, long *val)
{
	char path[128];
	long nr, surplus;
	int err;

	hugepages_file(page_size, "nr_hugepages", path, sizeof(path));
	err = hugepages_read_count(path, &nr);
	hugepages_file(page_size, "surplus_hugepages", path, sizeof(path));
	if (!err)
		err = hugepages_read_count(path, &surplus);
	if (!err)
		*val = nr - surplus;
	return err;
}

int gm_hugepages_add(uint64_t page_size, long delta, long *done)
{
	char path[128];
	long before, after;
	int err;

	*done = 0;
	err = hugepages_persistent(page_size, &before);
	if (err)
		return err;
	if (before + delta < 0)
		delta = -before;
	hugepages_file(page_size, "nr_hugepages", path, sizeof(path));
	err = hugepages_write_count(path, 0, before + delta);
	/* The kernel refuses with an error only for bad values; short of
	 * memory, or of pages it may free or turn surplus (1 GiB pages
	 * cannot be surplus), it moves by less than asked. */
	if (!err)
		err = hugepages_persistent(page_size, &after);
	if (!err)
		*done = after - before;
	return err;
}

static void hugepages_owed_path(const char *state_dir, uint64_t page_size, char *path,
				size_t len)
{
	snprintf(path, len, "%s/hugepages-%" PRIu64 "kB.owed", state_dir, page_size >> 10);
}

int gm_hugepages_owed_get(const char *state_dir, uint64_t page_size, long *owed)
{
	char path[PATH_MAX];
	int err;

	*owed = 0;
	hugepages_owed_path(state_dir, page_size, path, sizeof(path));
	err = hugepages_read_count(path, owed);
	if (err == -ENOENT)
		err = 0;
	return err;
}

int gm_hugepages_owed_set(const char *state_dir, uint64_t page_size, long owed)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int err;

	hugepages_owed_path(state_dir, page_size, path, sizeof(path));
	if (owed <= 0)
		return unlink(path) && errno != ENOENT ? -errno : 0;
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	err = hugepages_write_count(tmp, O_CREAT | O_TRUNC, owed);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
