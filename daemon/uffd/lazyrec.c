/*
 * The lazy-restore record in the state directory (see lazyrec.h): writing
 * it at a session's start, the placed and discarded bitmaps the fault
 * path sets, loading it after a restart, removing it at a session's end.
 *
 * Not for: resuming a session (uffd/resume.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "core/fd_path.h"
#include "core/log.h"
#include "uffd/lazyrec.h"
#include "uffd/session.h"

#define WHY(...) snprintf(why, GM_CHAN_WHY_MAX, __VA_ARGS__)
#define GM_LAZYREC_FILE_MAX	(GM_LAZYREC_FIXED + 2 * GMEMFS_SNAP_MAX_DEPTH * \
				 GM_LAZYREC_PATH_MAX + 4)

_Static_assert(GM_LAZYREC_FIXED == 1728, "the record's layout is docs/state-dir.md's");

static int gm_lazyrec_dirfd = -1;	/* STATE/lazy; set once at start-up */

int gm_lazyrec_init(const char *state_dir, uint64_t *max_id)
{
	char path[4096];
	struct dirent *d;
	DIR *dir;
	int fd;

	*max_id = 0;
	snprintf(path, sizeof(path), "%s/lazy", state_dir);
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	gm_lazyrec_dirfd = fd;
	dir = fdopendir(openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		uint64_t id;
		char tail[8];

		if (sscanf(d->d_name, "%" SCNu64 ".%7s", &id, tail) == 2 && id > *max_id)
			*max_id = id;
	}
	closedir(dir);
	return 0;
}

static void gm_lazyrec_name(char *buf, size_t len, uint64_t id, const char *ext)
{
	snprintf(buf, len, "%" PRIu64 ".%s", id, ext);
}

/* The bitmaps' sizes: placed units, then discarded 4 KiB pages. */
static size_t gm_lazyrec_words(uint64_t bits)
{
	return (bits + 63) / 64;
}

static size_t gm_lazyrec_map_len(uint64_t nunits, uint64_t mem_size)
{
	return 8 * (gm_lazyrec_words(nunits) + gm_lazyrec_words((mem_size + 4095) / 4096));
}

static int gm_lazyrec_map(struct gm_uffd_sess *s, int flags)
{
	size_t len = gm_lazyrec_map_len(s->nunits, s->snap.mem_size);
	char name[40];
	struct stat st;
	void *p;
	int fd, err;

	gm_lazyrec_name(name, sizeof(name), s->id, "map");
	fd = openat(gm_lazyrec_dirfd, name, O_RDWR | O_CLOEXEC | flags, 0600);
	if (fd < 0)
		return -errno;
	err = flags & O_CREAT ? ftruncate(fd, len) : fstat(fd, &st);
	if (!err && !(flags & O_CREAT) && (size_t)st.st_size != len)
		err = -1, errno = EINVAL;
	p = err ? MAP_FAILED : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (!err) {
		s->map = p;
		s->map_len = len;
	}
	return err;
}

static void gm_lazyrec_file_of(int fd, struct gm_lazyrec_file *f)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (fstat(fd, &st))
		return;
	*f = (struct gm_lazyrec_file){
		.dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
		.mtime_ns = st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec,
	};
}

/* s's record into buf: the fixed part, the paths, the crc.  Its length. */
static size_t gm_lazyrec_encode(struct gm_uffd_sess *s, char *buf)
{
	struct gm_lazyrec *r = (struct gm_lazyrec *)buf;
	size_t pos = GM_LAZYREC_FIXED;
	uint32_t crc;

	*r = (struct gm_lazyrec){
		.version = GM_LAZYREC_VERSION, .kind = s->kind, .id = s->id, .flags = s->flags,
		.pid = s->ask ? 0 : s->pid, .pid_start = s->pid_start, .uid = s->uid,
		.nregions = s->nregions, .nlayers = s->snap.nlayers, .file_ino = s->file_ino,
		.mem_size = s->snap.mem_size, .unit = s->unit, .nunits = s->nunits,
	};
	memcpy(r->magic, GM_LAZYREC_MAGIC, 8);
	memcpy(r->regions, s->regions, s->nregions * sizeof(r->regions[0]));
	for (unsigned i = 0; i < s->snap.nlayers; i++) {
		const struct gm_snap_layer *l = &s->snap.layers[i];
		struct gm_lazyrec_layer *rl = &r->layers[i];
		const int fds[2] = { l->img_fd, l->idx_fd };

		gm_lazyrec_file_of(l->img_fd, &rl->img);
		gm_lazyrec_file_of(l->idx_fd, &rl->idx);
		memcpy(rl->uuid, l->hdr.uuid, sizeof(rl->uuid));
		rl->hdr_crc = gm_crc32c(0, &l->hdr, sizeof(l->hdr));
		for (int k = 0; k < 2; k++) {
			if (gm_fd_target(fds[k], buf + pos, GM_LAZYREC_PATH_MAX))
				buf[pos] = '\0';
			pos += strlen(buf + pos) + 1;
		}
	}
	crc = gm_crc32c(0, buf, pos);
	memcpy(buf + pos, &crc, 4);
	return pos + 4;
}

/* Write name with len bytes of buf, whole or not at all. */
static int gm_lazyrec_write(const char *name, const char *buf, size_t len)
{
	char tmp[48];
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(gm_lazyrec_dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	close(fd);
	if (!err && renameat(gm_lazyrec_dirfd, tmp, gm_lazyrec_dirfd, name))
		err = -errno;
	if (err)
		unlinkat(gm_lazyrec_dirfd, tmp, 0);
	return err;
}

int gm_lazyrec_create(struct gm_uffd_sess *s)
{
	char name[40], *buf;
	size_t len;
	int err;

	if (gm_lazyrec_dirfd < 0)
		return -ENOENT;
	buf = malloc(GM_LAZYREC_FILE_MAX);
	if (!buf)
		return -ENOMEM;
	/* The map first: a record always has one. */
	err = gm_lazyrec_map(s, O_CREAT | O_TRUNC);
	if (!err) {
		len = gm_lazyrec_encode(s, buf);
		gm_lazyrec_name(name, sizeof(name), s->id, "rec");
		err = gm_lazyrec_write(name, buf, len);
	}
	free(buf);
	if (err)
		gm_lazyrec_close(s, true);
	return err;
}

int gm_lazyrec_attach(struct gm_uffd_sess *s)
{
	return gm_lazyrec_dirfd < 0 ? -ENOENT : gm_lazyrec_map(s, 0);
}

void gm_lazyrec_placed(struct gm_uffd_sess *s, uint64_t u)
{
	if (s->map)
		__atomic_fetch_or(&s->map[u / 64], 1ULL << (u % 64), __ATOMIC_RELAXED);
}

void gm_lazyrec_discarded(struct gm_uffd_sess *s, uint64_t off, uint64_t len)
{
	uint64_t *pages;

	if (!s->map)
		return;
	pages = s->map + gm_lazyrec_words(s->nunits);
	/* Whole pages only: the VMM discards whole pages. */
	for (uint64_t p = (off + 4095) / 4096; p < (off + len) / 4096; p++)
		__atomic_fetch_or(&pages[p / 64], 1ULL << (p % 64), __ATOMIC_RELAXED);
}

static bool gm_lazyrec_bit(const uint64_t *words, uint64_t i)
{
	return words[i / 64] >> (i % 64) & 1;
}

void gm_lazyrec_apply(struct gm_uffd_sess *s)
{
	const uint64_t *pages = s->map + gm_lazyrec_words(s->nunits);
	uint64_t npages = (s->snap.mem_size + 4095) / 4096, p, q;

	for (uint64_t u = 0; u < s->nunits; u++) {
		if (gm_lazyrec_bit(s->map, u))
			gm_uffd_unit_mark_placed(s, u);
	}
	for (p = 0; p < npages; p = q) {
		for (; p < npages && !gm_lazyrec_bit(pages, p); p++)
			;
		for (q = p; q < npages && gm_lazyrec_bit(pages, q); q++)
			;
		if (q > p)
			gm_uffd_note_removed_off(s, p * 4096, q * 4096 < s->snap.mem_size ?
						 (q - p) * 4096 : s->snap.mem_size - p * 4096);
	}
}

void gm_lazyrec_drop(uint64_t id)
{
	char name[40];

	if (gm_lazyrec_dirfd < 0)
		return;
	gm_lazyrec_name(name, sizeof(name), id, "rec");
	unlinkat(gm_lazyrec_dirfd, name, 0);
	gm_lazyrec_name(name, sizeof(name), id, "map");
	unlinkat(gm_lazyrec_dirfd, name, 0);
}

void gm_lazyrec_close(struct gm_uffd_sess *s, bool drop)
{
	if (s->map)
		munmap(s->map, s->map_len);
	s->map = NULL;
	if (drop)
		gm_lazyrec_drop(s->id);
}

/* The paths after the fixed part: two per layer, each NUL-terminated. */
static int gm_lazyrec_paths(struct gm_lazyrec *r, char *buf, size_t len,
			    char why[GM_CHAN_WHY_MAX])
{
	size_t pos = GM_LAZYREC_FIXED;

	for (unsigned i = 0; i < r->nlayers; i++) {
		char **p[2] = { &r->img_path[i], &r->idx_path[i] };

		for (int k = 0; k < 2; k++) {
			char *nul = memchr(buf + pos, '\0', len - pos);

			if (!nul) {
				WHY("layer %u: a path runs past the record", i);
				return -EINVAL;
			}
			*p[k] = buf + pos;
			pos = nul - buf + 1;
		}
	}
	if (pos != len) {
		WHY("%zu bytes after the paths", len - pos);
		return -EINVAL;
	}
	return 0;
}

/* Magic, version, counts, crc. */
static int gm_lazyrec_check(struct gm_lazyrec *r, const char *buf, size_t len,
			    char why[GM_CHAN_WHY_MAX])
{
	uint32_t crc;

	if (len < GM_LAZYREC_FIXED + 4 || memcmp(r->magic, GM_LAZYREC_MAGIC, 8)) {
		WHY("%zu bytes, not a lazy-restore record", len);
		return -EINVAL;
	}
	memcpy(&crc, buf + len - 4, 4);
	if (crc != gm_crc32c(0, buf, len - 4)) {
		WHY("its checksum does not match (a torn write)");
		return -EINVAL;
	}
	if (r->version != GM_LAZYREC_VERSION || r->nregions > GM_LAZYREC_MAX_REGIONS ||
	    !r->nlayers || r->nlayers > GMEMFS_SNAP_MAX_DEPTH) {
		WHY("version %u, %u regions, %u layers: not a record this daemon reads",
		    r->version, r->nregions, r->nlayers);
		return -EINVAL;
	}
	return 0;
}

int gm_lazyrec_load(uint64_t id, struct gm_lazyrec **out, char why[GM_CHAN_WHY_MAX])
{
	struct gm_lazyrec *r = NULL;
	char name[40], *buf;
	ssize_t n;
	int fd, err;

	gm_lazyrec_name(name, sizeof(name), id, "rec");
	fd = gm_lazyrec_dirfd < 0 ? -1 : openat(gm_lazyrec_dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		WHY("no record of session %" PRIu64 " (it ended, or was never recorded)", id);
		return -ENOENT;
	}
	/* The record, then its paths' bytes, in one block: one free. */
	buf = malloc(sizeof(*r) + GM_LAZYREC_FILE_MAX);
	if (!buf) {
		close(fd);
		WHY("no memory to read it");
		return -ENOMEM;
	}
	n = read(fd, buf + sizeof(*r), GM_LAZYREC_FILE_MAX);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (!err) {
		r = (struct gm_lazyrec *)buf;
		memcpy(r, buf + sizeof(*r), GM_LAZYREC_FIXED < (size_t)n ? GM_LAZYREC_FIXED : (size_t)n);
		err = gm_lazyrec_check(r, buf + sizeof(*r), n, why);
	} else
		WHY("reading %s: %s", name, strerror(-err));
	if (!err)
		err = gm_lazyrec_paths(r, buf + sizeof(*r), n - 4, why);
	if (!err && r->id != id) {
		WHY("it names session %" PRIu64, r->id);
		err = -EINVAL;
	}
	if (err) {
		free(buf);
		return err;
	}
	*out = r;
	return 0;
}

void gm_lazyrec_free(struct gm_lazyrec *rec)
{
	free(rec);
}

void gm_lazyrec_each(void (*fn)(uint64_t id, void *ctx), void *ctx)
{
	struct dirent *d;
	DIR *dir;

	/* Its own open: a dup would share (and move) the directory offset. */
	dir = gm_lazyrec_dirfd < 0 ? NULL :
	      fdopendir(openat(gm_lazyrec_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		uint64_t id;
		char tail[8];

		if (sscanf(d->d_name, "%" SCNu64 ".%7s", &id, tail) == 2 && !strcmp(tail, "rec"))
			fn(id, ctx);
	}
	closedir(dir);
}

int gm_lazyrec_pid_start(pid_t pid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* After the command's closing parenthesis: state is field 3,
	 * starttime field 22. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu", &v) != 1)
		return -EIO;
	*start = v;
	return 0;
}
