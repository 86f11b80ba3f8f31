/*
 * Reads and writes through a transient shared mapping of a backing file,
 * for backings the kernel gives no write() (hugetlbfs) or neither read()
 * nor write() (guest_memfd).  The window is whole pages of the backing's
 * page size around the range, so a hugetlbfs mapping is aligned as the
 * kernel requires.
 *
 * Reads never allocate: mincore() tells which pages the file holds, and
 * the others read as zeros, so reading a hole does not eat the pool.
 *
 * Not for: bounds or budget checks (the caller keeps off + len within the
 * file and the file within the pool).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prov/prov.h"

struct mapio_win {
	uint8_t *base;		/* the mapping */
	size_t len;		/* its length */
	size_t skip;		/* offset of the range's first byte in it */
};

static int mapio_map(struct mapio_win *w, int fd, uint64_t page_size, size_t len,
		     off_t off, int prot)
{
	uint64_t start = (uint64_t)off & ~(page_size - 1);
	uint64_t end = ((uint64_t)off + len + page_size - 1) & ~(page_size - 1);

	w->len = end - start;
	w->skip = (uint64_t)off - start;
	w->base = mmap(NULL, w->len, prot, MAP_SHARED, fd, (off_t)start);
	if (w->base == MAP_FAILED)
		/* hugetlbfs reserves the window's pages at mmap: none left. */
		return errno == ENOMEM ? -ENOSPC : -errno;
	return 0;
}

ssize_t prov_mapio_read(int fd, uint64_t page_size, void *buf, size_t len, off_t off)
{
	long small = sysconf(_SC_PAGESIZE);
	struct mapio_win w;
	unsigned char *vec;
	size_t done = 0;
	int err;

	if (len == 0)
		return 0;
	err = mapio_map(&w, fd, page_size, len, off, PROT_READ);
	if (err)
		return err;
	vec = malloc(w.len / (size_t)small);
	err = -ENOMEM;
	if (!vec)
		goto out_unmap;
	err = mincore(w.base, w.len, vec) ? -errno : 0;
	if (err)
		goto out_free;
	while (done < len) {
		size_t pos = w.skip + done;
		size_t n = (size_t)small - pos % (size_t)small;

		if (n > len - done)
			n = len - done;
		if (vec[pos / (size_t)small] & 1)
			memcpy((uint8_t *)buf + done, w.base + pos, n);
		else
			memset((uint8_t *)buf + done, 0, n);
		done += n;
	}
out_free:
	free(vec);
out_unmap:
	munmap(w.base, w.len);
	return err ? err : (ssize_t)len;
}

ssize_t prov_mapio_write(int fd, uint64_t page_size, const void *buf, size_t len, off_t off)
{
	struct mapio_win w;
	int err;

	if (len == 0)
		return 0;
	err = mapio_map(&w, fd, page_size, len, off, PROT_READ | PROT_WRITE);
	if (err)
		return err;
	memcpy(w.base + w.skip, buf, len);
	munmap(w.base, w.len);
	return (ssize_t)len;
}
