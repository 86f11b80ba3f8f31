/*
 * The daemon's conversion policy for shim files (docs/shim.md,
 * "Conversion policy").  The shim's event thread hands each CONVERT event
 * here with its provider lock held (gm_shim_convert_queue: queued only);
 * once it lets go of that lock it decides them (gm_shim_convert_run),
 * which needs the inode's owner and the journal, both above the
 * provider's lock in the lock order.
 *
 * A request (REQ_ID) is refused with EPERM when the converting task is
 * neither root (uid 0) nor the gmemfs file's owner, and a conversion to
 * private with EBUSY while a snapshot or a restore reads or places the
 * range (meta/private.h); the daemon's own conversions (a restore making
 * ranges private again) pass both.  An outcome report (no REQ_ID,
 * CONVERT_APPLIED or _FAILED) journals what the module applied.
 *
 * Locking: conv.lock guards the queue; a leaf, taken under shim.lock.
 * conv.run keeps the decisions in the module's order when the event
 * thread and gm_shim_sync's caller both run the queue: taken with no
 * lock held, above shim.lock, inode->lock and meta/private.c's.
 *
 * Not for: the ranges and busy table (meta/private.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fs.h"
#include "gmemfs_shim.h"
#include "core/log.h"
#include "meta/private.h"
#include "prov/shim.h"

struct conv_ev {
	struct gm_shimc_event ev;
	uint64_t ino;			/* 0: no file of this daemon */
};

static struct {
	pthread_mutex_t run;
	pthread_mutex_t lock;
	struct conv_ev *q;
	size_t n, cap;
} conv = { .run = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER };

bool gm_shim_convert_queue(const struct gm_shimc_event *ev, uint64_t ino)
{
	bool queued = false;

	pthread_mutex_lock(&conv.lock);
	if (conv.n == conv.cap) {
		size_t cap = conv.cap ? 2 * conv.cap : 16;
		struct conv_ev *q = realloc(conv.q, cap * sizeof(*q));

		if (!q)
			goto out;
		conv.q = q;
		conv.cap = cap;
	}
	conv.q[conv.n++] = (struct conv_ev){ .ev = *ev, .ino = ino };
	queued = true;
out:
	pthread_mutex_unlock(&conv.lock);
	return queued;
}

static const char *dir_name(uint32_t flags)
{
	return flags & GMEMFS_SHIM_CONVERT_PRIVATE ? "private" : "shared";
}

/* 0 (approved, now pending) or -errno with why. */
static int convert_decide(const struct conv_ev *c, char *why, size_t len)
{
	const struct gm_shimc_event *ev = &c->ev;
	bool self = ev->pid == (uint32_t)getpid();
	struct gm_fs *fs = gm_private_fs();
	struct gm_inode *inode;
	const char *what = NULL;
	uint32_t owner;
	int err;

	inode = c->ino && fs ? gm_inode_find(&fs->it, c->ino) : NULL;
	if (!inode)
		return snprintf(why, len, "no file of this daemon"), -ENOENT;
	pthread_mutex_lock(&inode->lock);
	owner = inode->uid;
	pthread_mutex_unlock(&inode->lock);
	gm_fs_put(fs, inode);
	if (!self && ev->uid && ev->uid != owner)
		return snprintf(why, len, "uid %u is not the file's owner (uid %u)", ev->uid,
				owner), -EPERM;
	err = gm_private_approve(c->ino, ev->offset, ev->length,
				 ev->flags & GMEMFS_SHIM_CONVERT_PRIVATE, !self, &what);
	if (err == -EBUSY)
		snprintf(why, len, "%s is reading or placing that range", what);
	else if (err)
		snprintf(why, len, "%s", strerror(-err));
	return err;
}

static void convert_request(const struct conv_ev *c)
{
	const struct gm_shimc_event *ev = &c->ev;
	char why[160];
	int err, ret;

	err = convert_decide(c, why, sizeof(why));
	if (err)
		gm_warn("shim: file %llu (shim file %u): conversion of [%" PRIu64 ", +%" PRIu64
			") to %s by pid %u uid %u refused: %s", (unsigned long long)c->ino,
			ev->file_id, ev->offset, ev->length, dir_name(ev->flags), ev->pid, ev->uid,
			why);
	else
		gm_info("shim: file %llu (shim file %u): converting [%" PRIu64 ", +%" PRIu64
			") to %s for pid %u uid %u", (unsigned long long)c->ino, ev->file_id,
			ev->offset, ev->length, dir_name(ev->flags), ev->pid, ev->uid);
	ret = gm_shim_done(ev->req_id, err);
	if (ret) {
		gm_warn("shim: file %u: answering a conversion: %s", ev->file_id, strerror(-ret));
		if (!err)	/* never reaches the module: no outcome will come */
			gm_private_settled(c->ino, ev->offset, ev->length,
					   ev->flags & GMEMFS_SHIM_CONVERT_PRIVATE);
	}
}

/* Applied first, settled after: a snapshot in between sees the range
 * private one way or the other. */
static void convert_outcome(const struct conv_ev *c)
{
	const struct gm_shimc_event *ev = &c->ev;
	bool private = ev->flags & GMEMFS_SHIM_CONVERT_PRIVATE;

	if (!c->ino)
		return;
	if (ev->flags & GMEMFS_SHIM_CONVERT_APPLIED)
		gm_private_applied(c->ino, ev->offset, ev->length, private);
	if (gm_private_settled(c->ino, ev->offset, ev->length, private) &&
	    !(ev->flags & GMEMFS_SHIM_CONVERT_APPLIED))
		gm_warn("shim: file %llu: the module did not apply the approved conversion of [%"
			PRIu64 ", +%" PRIu64 ") to %s", (unsigned long long)c->ino, ev->offset,
			ev->length, dir_name(ev->flags));
}

void gm_shim_convert_run(void)
{
	struct conv_ev *q;
	size_t n;

	pthread_mutex_lock(&conv.run);
	pthread_mutex_lock(&conv.lock);
	q = conv.q;
	n = conv.n;
	conv.q = NULL;
	conv.n = conv.cap = 0;
	pthread_mutex_unlock(&conv.lock);
	for (size_t i = 0; i < n; i++) {
		if (q[i].ev.req_id)
			convert_request(&q[i]);
		else
			convert_outcome(&q[i]);
	}
	pthread_mutex_unlock(&conv.run);
	free(q);
}

int gm_shim_convert_fd(int fd, const struct gm_snap_range *r, size_t n, bool private,
		       char *why, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		struct gmemfs_shim_convert a = {
			.offset = r[i].off, .size = r[i].len,
			.flags = private ? GMEMFS_SHIM_CONVERT_PRIVATE : 0,
		};

		int err = ioctl(fd, GMEMFS_SHIM_IOC_CONVERT, &a) ? -errno : 0;

		if (err)
			return snprintf(why, len, "making [%#" PRIx64 ", +%#" PRIx64 ") %s: %s",
					r[i].off, r[i].len, private ? "private" : "shared",
					strerror(-err)), err;
	}
	return 0;
}
