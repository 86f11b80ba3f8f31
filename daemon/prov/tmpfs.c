/*
 * Shared mechanics of the shmem providers: each instance is a tmpfs mount
 * the daemon owns at STATE_DIR/<provider name>, holding one file per backing
 * object, named by the file id in 16 hex digits.  The mount's size= is the
 * instance's share of the pool; the kernel enforces it on every write,
 * fault and fallocate, so the data path never asks the daemon.
 *
 * The mount outlives the daemon: attach adopts a tmpfs already mounted at
 * the instance dir (a restart) and detach only drops our fd.
 *
 * Not for: choosing limits (mem/pool.c) or the page size (the provider tables
 * in shmem_4k.c and shmem_thp.c set tmpfs_huge).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "core/fd_path.h"
#include "core/log.h"
#include "prov/prov.h"

/* tmpfs counts its size in pages; size= is rounded up to one. */
#define TMPFS_PAGE		4096ULL
/* One inode per backing object: bounds the kernel memory the pool's
 * budget does not count (inodes are not part of size=), about 1 KiB each,
 * while leaving room for a mount of 100,000 files in one store. */
#define TMPFS_NR_INODES		262144
/* A remount through mount(2) resets the per-mount flags to the ones it is
 * given, so every mount and remount passes the same set, and the atime
 * rule prov_store_set_atime gave the store. */
#define TMPFS_MS_FLAGS		(MS_NOSUID | MS_NODEV)
#define TMPFS_SOURCE		"gmemfs"
#define BACKING_NAME_LEN	16

/* What /proc/self/mountinfo says about the mount rooted at an instance dir. */
struct tmpfs_mnt {
	bool mounted;		/* the dir is the root of some mount */
	bool tmpfs_root;	/* ... of a whole tmpfs, not a bind of a subtree */
	char huge[32];		/* its huge= option ("never" when not shown) */
	unsigned long nr_inodes;	/* its nr_inodes= option (0: not shown) */
};

/* size= argument: page-aligned up and never 0, which tmpfs reads as
 * "unlimited" and then refuses to limit again without an unmount. */
static uint64_t tmpfs_size_arg(uint64_t bytes)
{
	if (bytes < TMPFS_PAGE)
		return TMPFS_PAGE;
	if (bytes > UINT64_MAX - TMPFS_PAGE)
		bytes = UINT64_MAX - TMPFS_PAGE;
	return (bytes + TMPFS_PAGE - 1) & ~(TMPFS_PAGE - 1);
}

static void backing_name(char name[BACKING_NAME_LEN + 1], uint64_t id)
{
	snprintf(name, BACKING_NAME_LEN + 1, "%016" PRIx64, id);
}

/* Only names backing_name() makes: lower-case, so an id read back here
 * opens the same file again. */
static bool backing_name_parse(const char *name, uint64_t *id)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < BACKING_NAME_LEN; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	if (name[i] != '\0')
		return false;
	*id = v;
	return true;
}

/* One line of /proc/self/mountinfo:
 * id parent maj:min root mountpoint opts [optional...] - fstype source super */
static int mountinfo_parse_line(char *line, struct tmpfs_mnt *m)
{
	char *field, *root = NULL, *fstype = NULL, *super = NULL, *opt;
	int n = 0;
	bool after_sep = false;

	line[strcspn(line, "\n")] = '\0';
	while ((field = strsep(&line, " ")) != NULL) {
		if (n == 3)
			root = field;
		if (n >= 6 && !after_sep && strcmp(field, "-") == 0) {
			after_sep = true;
			n = 0;
			continue;
		}
		if (after_sep && n == 0)
			fstype = field;
		if (after_sep && n == 2)
			super = field;
		n++;
	}
	if (!root || !fstype || !super)
		return -EPROTO;

	m->tmpfs_root = strcmp(fstype, "tmpfs") == 0 && strcmp(root, "/") == 0;
	snprintf(m->huge, sizeof(m->huge), "never");
	while ((opt = strsep(&super, ",")) != NULL) {
		if (strncmp(opt, "huge=", 5) == 0)
			snprintf(m->huge, sizeof(m->huge), "%s", opt + 5);
		else if (strncmp(opt, "nr_inodes=", 10) == 0)
			m->nr_inodes = strtoul(opt + 10, NULL, 10);
	}
	return 0;
}

static int mountinfo_lookup(uint64_t mnt_id, struct tmpfs_mnt *m)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int err;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	err = -ENOENT;		/* unmounted since we looked at the dir */
	while (getline(&line, &cap, f) > 0) {
		if (strtoull(line, NULL, 10) != mnt_id)
			continue;
		err = mountinfo_parse_line(line, m);
		break;
	}
	free(line);
	fclose(f);
	return err;
}

/*
 * Is the instance dir the root of a mount, and of what?  The mount id from
 * statx names the mount that is visible at the dir (the top of a stack),
 * which a match on the mount point string in mountinfo cannot tell apart.
 */
static int tmpfs_find_mount(const char *dir, struct tmpfs_mnt *m)
{
	struct statx stx;
	int err;

	memset(m, 0, sizeof(*m));
	err = statx(AT_FDCWD, dir, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		    STATX_TYPE | STATX_MNT_ID, &stx);
	if (err) {
		err = -errno;
		gm_err("%s: cannot stat the instance dir: %s", dir, strerror(-err));
		return err;
	}
	err = -ENOTDIR;
	if (!S_ISDIR(stx.stx_mode)) {
		gm_err("%s: instance dir is not a directory", dir);
		return err;
	}
	err = -EOPNOTSUPP;
	if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
	    !(stx.stx_mask & STATX_MNT_ID)) {
		gm_err("%s: kernel does not tell mount roots (statx)", dir);
		return err;
	}
	m->mounted = stx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
	if (!m->mounted)
		return 0;
	err = mountinfo_lookup(stx.stx_mnt_id, m);
	if (err)
		gm_err("%s: mount %" PRIu64 " not found in mountinfo: %s",
		       dir, (uint64_t)stx.stx_mnt_id, strerror(-err));
	return err;
}

static int tmpfs_make_dir(const char *dir)
{
	int err;

	err = mkdir(dir, 0700);
	if (err && errno != EEXIST) {
		err = -errno;
		gm_err("%s: cannot create the instance dir: %s", dir, strerror(-err));
		return err;
	}
	return 0;
}

/* Opened after any mount, so the fd is the store's root and not the dir
 * underneath it; checked to be the filesystem the provider mounts (of
 * block_size blocks, unless 0), which a mount stacked on top would not. */
int prov_store_open_root(struct gm_prov_inst *pi, long fs_magic, uint64_t block_size)
{
	struct statfs sfs;
	int fd, err;

	fd = open(pi->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		gm_err("%s: cannot open the instance root: %s", pi->dir, strerror(-err));
		return err;
	}
	err = fstatfs(fd, &sfs) ? -errno : 0;
	if (!err && (sfs.f_type != fs_magic ||
		     (block_size && (uint64_t)sfs.f_bsize != block_size)))
		err = -EXDEV;
	if (err) {
		gm_err("%s: the instance root is not the %s store it should be; unmount "
		       "what is there: %s", pi->dir, pi->prov->name, strerror(-err));
		close(fd);
		return err;
	}
	pi->dirfd = fd;
	return 0;
}

int prov_store_set_atime(struct gm_prov_inst *pi, unsigned long ms_atime)
{
	char target[GM_FD_PATH_LEN];
	int err;

	if (mount(NULL, gm_fd_path(target, pi->dirfd), NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | ms_atime,
		  NULL)) {
		err = -errno;
		gm_err("%s: cannot give the store the mount's atime rule: %s", pi->dir,
		       strerror(-err));
		return err;
	}
	pi->ms_atime = ms_atime;
	return 0;
}

static int tmpfs_open_root(struct gm_prov_inst *pi)
{
	return prov_store_open_root(pi, TMPFS_MAGIC, 0);
}

/*
 * Reconfigure the instance's tmpfs.  The target is our own root fd, via
 * /proc, so that a mount stacked on the dir since attach is never the one
 * changed.  tmpfs applies only the options given and keeps the others.
 */
static int tmpfs_remount(struct gm_prov_inst *pi, const char *opts)
{
	char target[GM_FD_PATH_LEN];
	int err;

	if (mount(NULL, gm_fd_path(target, pi->dirfd), NULL, MS_REMOUNT | TMPFS_MS_FLAGS | pi->ms_atime, opts) == 0)
		return 0;
	err = -errno;
	if (err == -EINVAL)
		gm_warn("%s: tmpfs refused remount with \"%s\" "
			"(a size below current use?): %s", pi->dir, opts, strerror(-err));
	else
		gm_err("%s: tmpfs remount with \"%s\" failed: %s",
		       pi->dir, opts, strerror(-err));
	return err;
}

static int tmpfs_mount_fresh(struct gm_prov_inst *pi, uint64_t limit)
{
	char opts[160];
	int err;

	snprintf(opts, sizeof(opts), "size=%" PRIu64 ",huge=%s,mode=0700,nr_inodes=%u",
		 limit, pi->prov->tmpfs_huge, TMPFS_NR_INODES);
	if (mount(TMPFS_SOURCE, pi->dir, "tmpfs", TMPFS_MS_FLAGS, opts)) {
		err = -errno;
		gm_err("%s: cannot mount tmpfs with \"%s\": %s", pi->dir, opts, strerror(-err));
		return err;
	}
	err = tmpfs_open_root(pi);
	if (err)
		goto err_umount;
	return 0;

err_umount:
	/* Ours and still empty: nothing to keep. */
	if (umount2(pi->dir, MNT_DETACH))
		gm_err("%s: cannot unmount after a failed attach: %s", pi->dir, strerror(errno));
	return err;
}

/*
 * A restart finds its tmpfs still mounted: keep the files, bring huge= back
 * to the provider's, and take the requested limit unless the store already
 * holds more (the pool rebalances right after attach).  A tmpfs mounted
 * without a limit cannot be given one by remount, so it is refused.
 */
static int tmpfs_adopt(struct gm_prov_inst *pi, const struct tmpfs_mnt *m, uint64_t limit)
{
	char opts[96] = "";
	uint64_t used = 0, cur = 0;
	int err;

	err = -EBUSY;
	if (!m->tmpfs_root) {
		gm_err("%s: something other than a whole tmpfs is mounted here; "
		       "unmount it", pi->dir);
		return err;
	}
	err = tmpfs_open_root(pi);
	if (err)
		return err;
	err = prov_tmpfs_usage(pi, &used, &cur);
	if (err)
		goto err_close;
	err = -EINVAL;
	if (cur == 0) {
		gm_err("%s: tmpfs mounted without a size limit, which a remount "
		       "cannot add; unmount it", pi->dir);
		goto err_close;
	}
	if (limit >= used)
		snprintf(opts, sizeof(opts), "size=%" PRIu64, limit);
	else
		gm_info("%s: %" PRIu64 " bytes in use exceed the requested limit "
			"%" PRIu64 "; keeping %" PRIu64, pi->dir, used, limit, cur);
	if (strcmp(m->huge, pi->prov->tmpfs_huge) != 0) {
		gm_info("%s: tmpfs has huge=%s, setting huge=%s", pi->dir,
			m->huge, pi->prov->tmpfs_huge);
		snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), "%shuge=%s",
			 opts[0] ? "," : "", pi->prov->tmpfs_huge);
	}
	/* A store made by an older daemon with fewer inodes gets ours. */
	if (m->nr_inodes && m->nr_inodes < TMPFS_NR_INODES)
		snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), "%snr_inodes=%u",
			 opts[0] ? "," : "", TMPFS_NR_INODES);
	if (opts[0]) {
		err = tmpfs_remount(pi, opts);
		if (err)
			goto err_close;
	}
	return 0;

err_close:
	close(pi->dirfd);
	pi->dirfd = -1;
	return err;
}

/*
 * The machine-wide shmem THP knob overrides huge= of every tmpfs when set
 * to deny or force.  We do not change global knobs; we say what the files
 * will really get.
 */
static void tmpfs_warn_global_thp(const struct gm_prov_inst *pi)
{
	static const char knob[] = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	char buf[128] = "";
	bool wants_huge = strcmp(pi->prov->tmpfs_huge, "never") != 0;
	FILE *f;

	f = fopen(knob, "re");
	if (!f)
		return;		/* no THP in this kernel: huge=never is all there is */
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (wants_huge && strstr(buf, "[deny]"))
		gm_warn("%s: %s is [deny]: files get small pages despite huge=%s",
			pi->dir, knob, pi->prov->tmpfs_huge);
	if (!wants_huge && strstr(buf, "[force]"))
		gm_warn("%s: %s is [force]: files get huge pages despite huge=never",
			pi->dir, knob);
}

int prov_tmpfs_attach(struct gm_prov_inst *pi, uint64_t limit, bool *reused)
{
	struct tmpfs_mnt m;
	uint64_t used;
	int err;

	pi->dirfd = -1;
	limit = tmpfs_size_arg(limit);
	err = tmpfs_make_dir(pi->dir);
	if (err)
		return err;
	err = tmpfs_find_mount(pi->dir, &m);
	if (err)
		return err;
	if (m.mounted)
		err = tmpfs_adopt(pi, &m, limit);
	else
		err = tmpfs_mount_fresh(pi, limit);
	if (err)
		return err;
	err = prov_tmpfs_usage(pi, &used, &pi->limit);
	if (err) {
		prov_tmpfs_detach(pi);
		return err;
	}
	tmpfs_warn_global_thp(pi);
	*reused = m.mounted;
	return 0;
}

void prov_tmpfs_detach(struct gm_prov_inst *pi)
{
	if (pi->dirfd >= 0)
		close(pi->dirfd);
	pi->dirfd = -1;
}

int prov_tmpfs_backing_open(struct gm_prov_inst *pi, uint64_t id, unsigned how)
{
	char name[BACKING_NAME_LEN + 1];
	int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
	int fd;

	if (how & GM_BACKING_SECRET)
		return -EOPNOTSUPP;	/* tmpfs and hugetlbfs pages are in the direct map */
	if (how & GM_BACKING_CREATE)
		flags |= O_CREAT | O_EXCL;
	backing_name(name, id);
	fd = openat(pi->dirfd, name, flags, 0600);
	return fd < 0 ? -errno : fd;
}

/* An idle file's stat (no fd held, see prov.h: reopen). */
int prov_tmpfs_backing_stat(struct gm_prov_inst *pi, uint64_t id, struct stat *st)
{
	char name[BACKING_NAME_LEN + 1];

	backing_name(name, id);
	return fstatat(pi->dirfd, name, st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

int prov_tmpfs_backing_unlink(struct gm_prov_inst *pi, uint64_t id)
{
	char name[BACKING_NAME_LEN + 1];

	backing_name(name, id);
	return unlinkat(pi->dirfd, name, 0) ? -errno : 0;
}

int prov_tmpfs_set_limit(struct gm_prov_inst *pi, uint64_t bytes)
{
	char opts[32];
	int err;

	bytes = tmpfs_size_arg(bytes);
	snprintf(opts, sizeof(opts), "size=%" PRIu64, bytes);
	err = tmpfs_remount(pi, opts);
	if (err)
		return err;
	pi->limit = bytes;
	return 0;
}

/* A limited tmpfs reports its size= as f_blocks and the pages it holds
 * (a huge page counts all of its small ones) as f_blocks - f_bfree. */
int prov_tmpfs_usage(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit)
{
	struct statfs sfs;

	if (fstatfs(pi->dirfd, &sfs))
		return -errno;
	*used = (uint64_t)(sfs.f_blocks - sfs.f_bfree) * (uint64_t)sfs.f_bsize;
	*limit = (uint64_t)sfs.f_blocks * (uint64_t)sfs.f_bsize;
	return 0;
}

static bool backing_dirent_is_file(DIR *d, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_REG;
	if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
		return false;
	return S_ISREG(st.st_mode);
}

int prov_tmpfs_for_each_backing(struct gm_prov_inst *pi,
				int (*fn)(void *ctx, uint64_t id), void *ctx)
{
	struct dirent *de;
	uint64_t id;
	DIR *d;
	int fd, err;

	/* dirfd is O_PATH, which cannot be read as a directory. */
	fd = openat(pi->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	err = 0;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			err = -errno;
			break;
		}
		if (!backing_name_parse(de->d_name, &id) || !backing_dirent_is_file(d, de))
			continue;
		err = fn(ctx, id);
		if (err)
			break;
	}
	closedir(d);
	return err;
}
