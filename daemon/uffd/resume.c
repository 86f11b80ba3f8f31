/*
 * Resuming lazy restores after the daemon died (docs/lazy-restore.md
 * "Daemon death and resume"): a session rebuilt from its record
 * (uffd/lazyrec.h) with the VMM's uffd handed back (RESUME_LAZY,
 * ctl/cmd_lazy.c) or, for Firecracker's handshake, taken back from the
 * VMM with pidfd_getfd(); and the sweep at start-up that drops the
 * records nobody can resume and takes the Firecracker ones back.
 *
 * The snapshot is reopened by the paths the record names and must be the
 * same files (device, inode, size, mtime) holding the same index headers
 * (uuid and CRC-32C): a snapshot changed or gone ends the resume with a
 * reason, and the VMM's faults are then refused (libgmemfs poisons
 * them), never served from other bytes.
 *
 * Not for: the record itself (lazyrec.c), serving faults (serve.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gmemfs_ctl.h"
#include "common/crc32c.h"
#include "core/fd_path.h"
#include "core/log.h"
#include "gmemfs_shim.h"
#include "prov/shim.h"
#include "uffd/lazyrec.h"
#include "uffd/resume.h"
#include "uffd/session.h"

#define WHY(...) snprintf(why, GM_CHAN_WHY_MAX, __VA_ARGS__)

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static bool gm_resume_same_file(int fd, const struct gm_lazyrec_file *f)
{
	struct stat st;

	return !fstat(fd, &st) && st.st_dev == f->dev && st.st_ino == f->ino &&
	       (uint64_t)st.st_size == f->size &&
	       st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec == f->mtime_ns;
}

/* One snapshot file by its recorded path, proven the same file. */
static int gm_resume_open_one(const char *path, int flags, const struct gm_lazyrec_file *f,
			      char why[GM_CHAN_WHY_MAX])
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0) {
		WHY("snapshot file %s: %s", path, strerror(errno));
		return -ESTALE;
	}
	if (!gm_resume_same_file(fd, f)) {
		WHY("snapshot file %s changed since the session started (another file, size or "
		    "mtime)", path);
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* The chain's fds (img0, idx0, ...), each proven the recorded file. */
static int gm_resume_open_chain(const struct gm_lazyrec *rec, int *fds,
				char why[GM_CHAN_WHY_MAX])
{
	unsigned n = 0;
	int fd;

	for (unsigned i = 0; i < rec->nlayers; i++) {
		int idx_flags = !i && rec->flags & GMEMFS_CTL_F_RECORD_WS ? O_RDWR : O_RDONLY;

		fd = gm_resume_open_one(rec->img_path[i], O_RDONLY, &rec->layers[i].img, why);
		if (fd >= 0) {
			fds[n++] = fd;
			fd = gm_resume_open_one(rec->idx_path[i], idx_flags, &rec->layers[i].idx,
						why);
		}
		if (fd < 0) {
			while (n)
				close(fds[--n]);
			return fd;
		}
		fds[n++] = fd;
	}
	return n;
}

/* The chain as opened holds the recorded index headers and geometry. */
static int gm_resume_check_snap(const struct gm_uffd_sess *s, const struct gm_lazyrec *rec,
				char why[GM_CHAN_WHY_MAX])
{
	for (unsigned i = 0; i < rec->nlayers; i++) {
		const struct gm_snap_layer *l = &s->snap.layers[i];

		if (i >= s->snap.nlayers || memcmp(l->hdr.uuid, rec->layers[i].uuid, 16) ||
		    gm_crc32c(0, &l->hdr, sizeof(l->hdr)) != rec->layers[i].hdr_crc) {
			WHY("snapshot index %s: not the header the session started with",
			    rec->idx_path[i]);
			return -ESTALE;
		}
	}
	if (s->snap.nlayers != rec->nlayers || s->unit != rec->unit || s->nunits != rec->nunits) {
		WHY("the snapshot's geometry changed (%u layers, unit %llu)", s->snap.nlayers,
		    (unsigned long long)s->unit);
		return -ESTALE;
	}
	return 0;
}

int gm_resume_check_vmm(const struct gm_lazyrec *rec, pid_t pid, char why[GM_CHAN_WHY_MAX])
{
	uint64_t start;

	if ((uint32_t)pid != rec->pid) {
		WHY("session %" PRIu64 " belongs to pid %u, not %d", rec->id, rec->pid, (int)pid);
		return -EPERM;
	}
	if (gm_lazyrec_pid_start(pid, &start) || start != rec->pid_start) {
		WHY("pid %d is not the process that started session %" PRIu64
		    " (its start time differs)", (int)pid, rec->id);
		return -EPERM;
	}
	return 0;
}

int gm_resume_session(const struct gm_lazyrec *rec, int uffd, int pidfd,
		      char why[GM_CHAN_WHY_MAX])
{
	struct gm_uffd_sess_args a = {
		.uffd = uffd, .pidfd = pidfd, .backing_fd = -1,
		.regions = (const struct gm_uffd_region *)rec->regions, .nregions = rec->nregions,
		.flags = rec->flags, .pid = rec->pid, .uid = rec->uid, .kind = rec->kind,
		.file_ino = rec->file_ino, .resume_id = rec->id,
		.ask_ino = rec->kind == GM_LAZYREC_ASK ? rec->file_ino : 0,
	};
	int fds[GM_CHAN_CHAIN_FDS];
	struct gm_uffd_sess *s;
	uint64_t id;
	int n, err;

	_Static_assert(sizeof(struct gm_lazyrec_region) == sizeof(struct gm_uffd_region),
		       "a recorded region is a session's region");
	n = gm_resume_open_chain(rec, fds, why);
	if (n < 0) {
		if (uffd >= 0)
			close(uffd);
		if (pidfd >= 0)
			close(pidfd);
		return n;
	}
	a.snap_fds = fds;
	a.nsnap_fds = n;
	err = gm_uffd_sess_new(&a, &s, why);
	if (err)
		return err;
	err = gm_resume_check_snap(s, rec, why);
	if (err) {
		gm_uffd_sess_free(s);
		return err;
	}
	return gm_uffd_sess_start(s, &id, why);
}

/* The one userfaultfd among pid's fds: its number, -ENOENT or -EEXIST
 * (more than one: which is the VMM's guest memory is not known). */
static int gm_resume_find_uffd(pid_t pid, char why[GM_CHAN_WHY_MAX])
{
	char dir[64], link[64];
	int found = -ENOENT;
	struct dirent *d;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	dp = opendir(dir);
	if (!dp) {
		WHY("%s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((d = readdir(dp))) {
		ssize_t n;

		n = readlinkat(dirfd(dp), d->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, "anon_inode:[userfaultfd]"))
			continue;
		if (found >= 0) {
			found = -EEXIST;
			break;
		}
		found = atoi(d->d_name);
	}
	closedir(dp);
	if (found == -ENOENT)
		WHY("pid %d holds no userfaultfd any more", (int)pid);
	else if (found == -EEXIST)
		WHY("pid %d holds more than one userfaultfd: which serves its memory is unknown",
		    (int)pid);
	return found;
}

/* Firecracker never hands its uffd again: take it from the VMM. */
static int gm_resume_take_back(const struct gm_lazyrec *rec, int pidfd,
			       char why[GM_CHAN_WHY_MAX])
{
	int fdnum = gm_resume_find_uffd(rec->pid, why), uffd;

	if (fdnum < 0) {
		close(pidfd);
		return fdnum;
	}
	uffd = syscall(SYS_pidfd_getfd, pidfd, fdnum, 0);
	if (uffd < 0) {
		WHY("pidfd_getfd of pid %u's fd %d: %s (the daemon needs ptrace rights over "
		    "the VMM)", rec->pid, fdnum, strerror(errno));
		close(pidfd);
		return -errno;
	}
	return gm_resume_session(rec, uffd, pidfd, why);
}

/* A pidfd of the recorded VMM, if it is still that process. */
static int gm_resume_vmm_pidfd(const struct gm_lazyrec *rec, char why[GM_CHAN_WHY_MAX])
{
	int pidfd = syscall(SYS_pidfd_open, rec->pid, 0), err;

	if (pidfd < 0) {
		WHY("its VMM, pid %u, is gone", rec->pid);
		return -ESRCH;
	}
	/* Checked after the pidfd: the pidfd then holds that process. */
	err = gm_resume_check_vmm(rec, rec->pid, why);
	if (err) {
		close(pidfd);
		WHY("its VMM, pid %u, is gone (the pid is another process's now)", rec->pid);
		return -ESRCH;
	}
	return pidfd;
}

static void gm_resume_no_route(void *ctx, const struct gm_shimc_event *ev)
{
	(void)ctx;
	(void)ev;
}

/* A restore that cannot resume leaves its file in ask mode, stuck: the
 * provider fails its faults (SIGBUS) instead of retrying them for ever;
 * auto mode would give zero pages where the snapshot holds data. */
static void gm_resume_ask_stuck(uint32_t kid, uint64_t ino)
{
	if (gm_shim_route(kid, gm_resume_no_route, NULL))
		return;		/* routed already: someone serves it */
	gm_shim_unroute(kid, true);
	gm_err("file %" PRIu64 " stays in ask mode with units missing: its faults there get "
	       "SIGBUS", ino);
}

/*
 * A shim file's ask-mode restore: the module kept the file in ask mode and
 * holds its pending faults for us (prov/shim.h, the restart order); the
 * session and its route are back before the event thread accepts them.
 * -EALREADY: the file is in auto mode, the restore had ended.
 */
static int gm_resume_ask(const struct gm_lazyrec *rec, char why[GM_CHAN_WHY_MAX])
{
	uint32_t kid, mode;
	int err;

	err = gm_shim_file_id(rec->file_ino, &kid);
	if (err) {
		WHY("file %" PRIu64 " has no shim file any more: %s", rec->file_ino,
		    strerror(-err));
		return err;
	}
	err = gm_shim_file_mode(kid, &mode);
	if (!err && mode != GMEMFS_SHIM_FAULT_ASK) {
		WHY("file %" PRIu64 " is in auto mode: its restore had ended", rec->file_ino);
		return -EALREADY;
	}
	err = gm_resume_session(rec, -1, -1, why);
	if (err)
		gm_resume_ask_stuck(kid, rec->file_ino);
	return err;
}

/* One record at start-up. */
static void gm_resume_startup_one(uint64_t id, void *ctx)
{
	char why[GM_CHAN_WHY_MAX];
	struct gm_lazyrec *rec;
	int err, pidfd;

	(void)ctx;
	err = gm_lazyrec_load(id, &rec, why);
	if (err == -EINVAL) {
		gm_err("lazy session %" PRIu64 ": its record is unreadable: %s; removed", id, why);
		gm_lazyrec_drop(id);
	}
	if (err) {
		if (err != -EINVAL)
			gm_err("lazy session %" PRIu64 ": reading its record: %s", id, why);
		return;
	}
	if (rec->kind == GM_LAZYREC_ASK) {
		err = gm_resume_ask(rec, why);
		if (err) {
			gm_warn("lazy session %" PRIu64 " (file %" PRIu64 ") not resumed: %s; its "
				"record is removed", id, rec->file_ino, why);
			gm_lazyrec_drop(id);
		}
		gm_lazyrec_free(rec);
		return;
	}
	pidfd = gm_resume_vmm_pidfd(rec, why);
	if (pidfd < 0) {
		gm_warn("lazy session %" PRIu64 " not resumed: %s; its record is removed", id, why);
		gm_lazyrec_drop(id);
	} else if (rec->kind == GM_LAZYREC_FC) {
		err = gm_resume_take_back(rec, pidfd, why);
		if (err)
			gm_err("lazy session %" PRIu64 " (pid %u, Firecracker's handshake) not "
			       "resumed: %s", id, rec->pid, why);
	} else {
		close(pidfd);
		gm_info("lazy session %" PRIu64 " (pid %u) waits for its VMM to hand its uffd "
			"back (RESUME_LAZY)", id, rec->pid);
	}
	gm_lazyrec_free(rec);
}

int gm_resume_startup(const char *state_dir)
{
	uint64_t max_id;
	int err = gm_lazyrec_init(state_dir, &max_id);

	if (err) {
		gm_err("%s/lazy: %s: lazy restores run unrecorded, and a kill -9 ends them",
		       state_dir, strerror(-err));
		return err;
	}
	gm_uffd_sessions_reserve(max_id);
	gm_lazyrec_each(gm_resume_startup_one, NULL);
	return 0;
}
