/*
 * shim: guest memory in shim files, the kernel module's guest_memfd-style
 * files (shim/, docs/shim.md), for files whose policy is "shim".  At
 * attach the daemon resolves the "gmemfs" generic netlink family (which
 * loads the module) and registers as its daemon; a thread then answers the
 * module's events: ALLOC and INVALIDATE move the pool's figure for this
 * provider, CONVERT is decided by policy (shim_convert.c), FAULT (ask
 * mode) is refused.  A file being
 * restored lazily in ask mode has its FAULT and INVALIDATE events routed
 * to its restore instead (prov/shim.h, uffd/ask.c), which populates pages
 * through this file's calls.
 *
 * The daemon registers with its state directory's token
 * (common/shim_keep.h), so the module keeps every shim file it creates
 * with no fd and no daemon, each named by its gmemfs file id (CREATE's
 * COOKIE).  The table here (gmemfs file id -> module id, shim fd) is
 * rebuilt at attach from the module's LIST: a restarted daemon re-adopts
 * each file with OPEN, same bytes and same module id, and the pool counts
 * the pages they hold.  The journal's replay then claims them; the orphan
 * sweep deletes those no file names (logged), and a file whose shim file
 * is gone (module reloaded, machine rebooted) comes back empty with
 * recover.c's warning.  Unlinking a file DELETEs its shim file.  The
 * module allows one daemon per machine, so there is one instance, and its
 * state is this file's.  The pool's share for the shim is the module's page
 * limit (SET_LIMIT): the module refuses allocations past it (ENOSPC, or
 * SIGBUS for a fault), as tmpfs does past size=.  The limit is sent only
 * when it changes, so the rebalancer's frequent calls cost nothing.
 *
 * Locking: shim.lock guards the netlink handle (one request at a time),
 * the table, the page count's updates and the limit last sent.  Lock
 * order: meta/inode.h.
 *
 * Not for: the message codec (common/shim_client.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gmemfs.h"
#include "gmemfs_nl.h"
#include "common/shim_keep.h"
#include "core/log.h"
#include "core/thread.h"
#include "meta/private.h"
#include "prov/prov.h"
#include "prov/shim.h"

#define SHIM_PAGE	4096ULL
#define SHIM_ROUTES	64	/* files restored in ask mode at once */

struct shim_ent {
	uint64_t ino;		/* gmemfs file id */
	uint32_t kid;		/* the module's file id */
	uint32_t mode;		/* at re-adoption: the module's fault mode */
	int fd;			/* the shim file; the table's own fd */
	bool adopted;		/* re-adopted and no file claimed it yet */
	bool secret;		/* GMEMFS_SHIM_F_SECRET: out of the carve-out */
};

struct shim_route {
	uint32_t kid;		/* 0: free */
	gm_shim_event_fn fn;	/* NULL: the restore ended, the file stuck */
	void *ctx;
};

static struct {
	pthread_mutex_t lock;
	struct gm_shimc *nl;		/* under lock */
	struct shim_ent *ents;		/* under lock */
	size_t n, cap;
	uint64_t pages;			/* base pages in shim files; under lock */
	uint64_t limit_sent;		/* the module's page limit; under lock */
	uint64_t carve_pages;		/* the module's carve-out at attach; under lock */
	struct shim_route routes[SHIM_ROUTES];	/* under lock */
	int stop_fd;			/* eventfd: the event thread exits */
	pthread_t thread;
	bool running;
} shim = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.stop_fd = -1,
	.limit_sent = GMEMFS_SHIM_NO_LIMIT,
};

static struct shim_ent *shim_find(uint64_t ino)
{
	for (size_t i = 0; i < shim.n; i++)
		if (shim.ents[i].ino == ino)
			return &shim.ents[i];
	return NULL;
}

static struct shim_ent *shim_find_kid(uint32_t kid)
{
	for (size_t i = 0; i < shim.n; i++)
		if (shim.ents[i].kid == kid)
			return &shim.ents[i];
	return NULL;
}

static struct shim_route *shim_route_of(uint32_t kid)
{
	for (size_t i = 0; kid && i < SHIM_ROUTES; i++)
		if (shim.routes[i].kid == kid)
			return &shim.routes[i];
	return NULL;
}

static struct shim_route *shim_route_of_free(void)
{
	for (size_t i = 0; i < SHIM_ROUTES; i++)
		if (!shim.routes[i].kid)
			return &shim.routes[i];
	return NULL;
}

static const char *shim_reason(int err)
{
	const char *msg = gm_shimc_errmsg(shim.nl);

	return msg[0] ? msg : strerror(-err);
}

/*
 * A FAULT no restore serves.  Only a restore turns a file to ask mode: one
 * that ended with units missing (corrupt) left the file stuck in it, and
 * its faults fail (SIGBUS), never zeros.  Any other was asked before its
 * restore completed and turned the file back to auto mode: the module's
 * retry finds the page, or allocates one as auto mode does.
 */
static int shim_answer_unrouted(const struct gm_shimc_event *ev, const struct shim_route *rt)
{
	if (!rt) {
		gm_dbg("shim: file %u: fault at offset %llu after its restore: retried",
		       ev->file_id, (unsigned long long)ev->offset);
		return gm_shimc_done(shim.nl, ev->req_id, 0);
	}
	gm_err("shim: file %u: fault at offset %llu, in a unit its restore could not place: SIGBUS",
	       ev->file_id, (unsigned long long)ev->offset);
	return gm_shimc_done(shim.nl, ev->req_id, -EIO);
}

/* A truncate left the range past the end shared: journaled as a
 * conversion the module applied (shim_convert.c). */
static void shim_truncated(const struct gm_shimc_event *ev)
{
	struct shim_ent *e = shim_find_kid(ev->file_id);
	struct gm_shimc_event shared = {
		.type = GMEMFS_SHIM_EV_CONVERT, .file_id = ev->file_id,
		.offset = ev->offset, .length = ev->length,
		.flags = GMEMFS_SHIM_CONVERT_APPLIED,
	};

	if (e && !gm_shim_convert_queue(&shared, e->ino))
		gm_warn("shim: file %u: no memory to record its truncate: its private ranges "
			"past offset %llu stay in the journal", ev->file_id,
			(unsigned long long)ev->offset);
}

static void shim_answer(const struct gm_shimc_event *ev)
{
	struct shim_route *rt = shim_route_of(ev->file_id);
	int err = 0;

	if (rt && rt->fn && (ev->type == GMEMFS_SHIM_EV_FAULT ||
			      ev->type == GMEMFS_SHIM_EV_INVALIDATE))
		rt->fn(rt->ctx, ev);
	if (rt && rt->fn && ev->type == GMEMFS_SHIM_EV_FAULT)
		return;
	switch (ev->type) {
	case GMEMFS_SHIM_EV_ALLOC:
		shim.pages += ev->pages;
		return;
	case GMEMFS_SHIM_EV_INVALIDATE:
		shim.pages -= ev->pages < shim.pages ? ev->pages : shim.pages;
		if (ev->flags & GMEMFS_SHIM_INVAL_TRUNCATE)
			shim_truncated(ev);
		return;
	case GMEMFS_SHIM_EV_FAULT:
		err = shim_answer_unrouted(ev, rt);
		break;
	case GMEMFS_SHIM_EV_CONVERT: {
		/* Decided by policy once shim.lock is let go (shim_convert.c). */
		struct shim_ent *e = shim_find_kid(ev->file_id);

		if (gm_shim_convert_queue(ev, e ? e->ino : 0))
			return;
		err = ev->req_id ? gm_shimc_done(shim.nl, ev->req_id, -ENOMEM) : 0;
		break;
	}
	default:
		gm_warn("shim: event of unknown type %u ignored", ev->type);
		return;
	}
	if (err)
		gm_warn("shim: file %u: answering event %u at offset %llu: %s",
			ev->file_id, ev->type, (unsigned long long)ev->offset,
			shim_reason(err));
}

/* Pull and answer every queued event; shim.lock held. */
static void shim_drain(void)
{
	struct gm_shimc_event ev[GM_SHIMC_EVENTS_MAX];
	uint32_t lost = 0;
	int n;

	while ((n = gm_shimc_accept(shim.nl, ev, GM_SHIMC_EVENTS_MAX, &lost)) > 0)
		for (int i = 0; i < n; i++)
			shim_answer(&ev[i]);
	if (n < 0)
		gm_warn("shim: accepting events: %s", shim_reason(n));
	if (lost)
		gm_warn("shim: the module dropped %u reports: the pool's shim figure may be off",
			lost);
}

static void *shim_events(void *arg)
{
	struct pollfd p[2] = {
		{ .fd = gm_shimc_notify_fd(shim.nl), .events = POLLIN },
		{ .fd = shim.stop_fd, .events = POLLIN },
	};

	(void)arg;
	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR) {
			gm_err("shim: poll: %s; events are no longer answered",
			       strerror(errno));
			return NULL;
		}
		if (p[1].revents)
			return NULL;
		if (!p[0].revents)
			continue;
		/* A notice lost to a full socket buffer is an error here: pull anyway. */
		gm_shimc_notify_drain(shim.nl);
		pthread_mutex_lock(&shim.lock);
		shim_drain();
		pthread_mutex_unlock(&shim.lock);
		gm_shim_convert_run();
	}
}

void gm_shim_sync(void)
{
	pthread_mutex_lock(&shim.lock);
	if (shim.nl)
		shim_drain();
	pthread_mutex_unlock(&shim.lock);
	gm_shim_convert_run();
}

/* The module keeps the files: only the daemon's fds go. */
static void shim_close_all(void)
{
	for (size_t i = 0; i < shim.n; i++)
		close(shim.ents[i].fd);
	free(shim.ents);
	shim.ents = NULL;
	shim.n = shim.cap = 0;
}

static void prov_shim_detach(struct gm_prov_inst *pi)
{
	(void)pi;
	if (shim.running) {
		uint64_t one = 1;

		if (write(shim.stop_fd, &one, sizeof(one)) != sizeof(one))
			gm_warn("shim: stopping the event thread: %s", strerror(errno));
		pthread_join(shim.thread, NULL);
		shim.running = false;
	}
	pthread_mutex_lock(&shim.lock);
	shim_close_all();
	if (shim.nl)
		gm_shimc_unregister(shim.nl);
	gm_shimc_close(shim.nl);
	shim.nl = NULL;
	shim.pages = 0;
	shim.limit_sent = GMEMFS_SHIM_NO_LIMIT;
	pthread_mutex_unlock(&shim.lock);
	if (shim.stop_fd >= 0)
		close(shim.stop_fd);
	shim.stop_fd = -1;
}

/*
 * The module's page limit to @bytes (whole pages, rounded down, as tmpfs
 * rounds size=), unless it is that already.  shim.lock held, or the
 * event thread not yet started.
 */
static int shim_send_limit(uint64_t bytes)
{
	uint64_t pages = bytes / SHIM_PAGE;
	int err;

	if (pages == shim.limit_sent)
		return 0;
	err = gm_shimc_set_limit(shim.nl, pages);
	if (err) {
		gm_err("shim: setting the module's page limit to %llu pages: %s",
		       (unsigned long long)pages, shim_reason(err));
		return err;
	}
	shim.limit_sent = pages;
	return 0;
}

/* Room in the table for one more entry; shim.lock held or not yet shared. */
static int shim_grow(void)
{
	struct shim_ent *grown;
	size_t cap;

	if (shim.n < shim.cap)
		return 0;
	cap = shim.cap ? 2 * shim.cap : 16;
	grown = realloc(shim.ents, cap * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	shim.ents = grown;
	shim.cap = cap;
	return 0;
}

/* One file the module kept for this state directory, back in the table;
 * one of no file (COOKIE 0) or a second of one file is deleted. */
static int shim_adopt(const struct gm_shimc_file *f)
{
	int fd, err;

	if (!f->cookie || shim_find(f->cookie)) {
		gm_warn("shim: shim file %u names %s file %016llx: deleted", f->id,
			f->cookie ? "the same" : "no", (unsigned long long)f->cookie);
		return gm_shimc_delete(shim.nl, f->id);
	}
	err = shim_grow();
	if (!err)
		err = gm_shimc_reopen(shim.nl, f->id, &fd);
	if (err) {
		gm_err("shim: re-adopting shim file %u of file %016llx: %s", f->id,
		       (unsigned long long)f->cookie, shim_reason(err));
		return err;
	}
	shim.ents[shim.n++] = (struct shim_ent){ .ino = f->cookie, .kid = f->id,
		.mode = f->mode, .fd = fd, .adopted = true,
		.secret = f->flags & GMEMFS_SHIM_F_SECRET };
	shim.pages += f->pages;
	if (f->mode == GMEMFS_SHIM_FAULT_ASK)
		gm_warn("shim: file %016llx (shim file %u) was left in ask mode by a lazy "
			"restore: its faults wait for that restore to resume",
			(unsigned long long)f->cookie, f->id);
	return 0;
}

/* Every file the module keeps for this state directory, by id. */
static int shim_adopt_all(void)
{
	struct gm_shimc_file files[GM_SHIMC_FILES_MAX];
	uint32_t next = 1;
	int n = 0, err = 0;

	while (!err && (n = gm_shimc_list(shim.nl, next, files, GM_SHIMC_FILES_MAX)) > 0)
		for (int i = 0; i < n && !err; i++) {
			err = shim_adopt(&files[i]);
			next = files[i].id + 1;
		}
	if (!err && n < 0)
		gm_err("shim: listing the module's files: %s", shim_reason(err = n));
	if (!err && shim.n)
		gm_info("shim: re-adopted %zu shim files holding %llu pages", shim.n,
			(unsigned long long)shim.pages);
	return err;
}

/* The carve-out secret files come from, as the log tells it once.  A
 * module without INFO has none. */
static void shim_carve_info(void)
{
	uint64_t pages = 0, free_pages = 0;
	int err = gm_shimc_info(shim.nl, &pages, &free_pages);

	if (err && err != -EOPNOTSUPP)
		gm_warn("shim: asking the module for its carve-out: %s", shim_reason(err));
	shim.carve_pages = err ? 0 : pages;
	if (shim.carve_pages)
		gm_info("shim: carve-out of %llu pages (%llu free): policy shim-secret is served",
			(unsigned long long)pages, (unsigned long long)free_pages);
	else
		gm_info("shim: the module has no carve-out (parameter carveout=): files of "
			"policy shim-secret cannot be created");
}

/* Register with the state directory's token (pi->dir is STATE/shim). */
static int shim_register(struct gm_prov_inst *pi)
{
	uint8_t token[GMEMFS_SHIM_TOKEN_MAX];
	char *state = strdup(pi->dir), *slash = state ? strrchr(state, '/') : NULL;
	int err = -ENOMEM;

	if (slash) {
		*slash = '\0';
		err = gm_shim_token_load(state, true, token);
		if (err)
			gm_err("shim: %s/" GM_SHIM_TOKEN_FILE ": %s", state, strerror(-err));
	}
	free(state);
	return err ? err : gm_shimc_register_token(shim.nl, token, sizeof(token));
}

static int prov_shim_attach(struct gm_prov_inst *pi, uint64_t limit, bool *reused)
{
	int err;

	*reused = false;
	err = gm_shimc_open(&shim.nl);
	if (err) {
		gm_info("shim: no \"%s\" netlink family (module gmemfs not loadable): "
			"the shim provider is absent", GMEMFS_GENL_NAME);
		return -ENODEV;
	}
	err = shim_register(pi);
	if (err == -EBUSY || err == -EPERM) {
		/* The module steers for one daemon per machine, and only for
		 * CAP_SYS_ADMIN: this mount goes on without shim files. */
		gm_info("shim: the module refuses this daemon (%s): the shim provider is absent",
			err == -EBUSY ? "another gmemfsd is registered" : "no CAP_SYS_ADMIN");
		err = -ENODEV;
		goto err_close;
	}
	if (err) {
		gm_err("shim: registering with the module: %s", shim_reason(err));
		goto err_close;
	}
	err = shim_adopt_all();
	if (err)
		goto err_close;
	shim_carve_info();
	/* A reused store keeps at least what it holds (mem/pool.c). */
	*reused = shim.n > 0;
	if (limit < shim.pages * SHIM_PAGE)
		limit = shim.pages * SHIM_PAGE;
	err = shim_send_limit(limit);
	if (err)
		goto err_close;
	shim.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (shim.stop_fd < 0) {
		err = -errno;
		goto err_close;
	}
	pi->limit = limit;
	return 0;

err_close:
	prov_shim_detach(pi);
	return err;
}

/* The event thread, started after the daemon's fork: events the module
 * queued since attach (replay's ALLOCs) wait in the notify socket. */
static int prov_shim_start(struct gm_prov_inst *pi)
{
	int err;

	(void)pi;
	err = gm_thread_start(&shim.thread, shim_events, NULL);
	if (err) {
		gm_err("shim: cannot start the event thread: %s", strerror(-err));
		return err;
	}
	shim.running = true;
	return 0;
}

/* A new shim file for file id, named by it in the module; shim.lock held.
 * A secret one needs the module's carve-out: without one the module would
 * refuse it (EOPNOTSUPP) with a reason the log should name here. */
static struct shim_ent *shim_create(uint64_t id, bool secret)
{
	uint32_t kid;
	int fd, err;

	if (secret && !shim.carve_pages) {
		gm_err("shim: file %016llx: policy shim-secret refused: the module has no "
		       "carve-out (load it with carveout=SIZE@ADDR over a memmap= range)",
		       (unsigned long long)id);
		errno = EOPNOTSUPP;
		return NULL;
	}
	err = shim_grow();
	if (!err)
		err = gm_shimc_create_named(shim.nl, 0, secret ? GMEMFS_SHIM_F_SECRET : 0, 0,
					    GMEMFS_SHIM_FAULT_AUTO, id, &kid, &fd);
	if (err) {
		gm_err("shim: file %016llx: creating its %sshim file: %s", (unsigned long long)id,
		       secret ? "secret " : "", shim_reason(err));
		errno = -err;
		return NULL;
	}
	gm_dbg("shim: file %016llx is %sshim file %u", (unsigned long long)id,
	       secret ? "secret " : "", kid);
	shim.ents[shim.n] = (struct shim_ent){ .ino = id, .kid = kid, .fd = fd,
					       .secret = secret };
	return &shim.ents[shim.n++];
}

static int prov_shim_backing_open(struct gm_prov_inst *pi, uint64_t id, unsigned flags)
{
	bool create = flags & GM_BACKING_CREATE, secret = flags & GM_BACKING_SECRET;
	struct shim_ent *e;
	int fd, err;

	(void)pi;
	pthread_mutex_lock(&shim.lock);
	e = shim_find(id);
	err = -ENOENT;
	if (!e && !create)
		goto out;
	err = -EEXIST;
	if (e && create && e->adopted)
		goto out;	/* a leftover no file named (mem/backing.c unlinks it) */
	if (!e && !(e = shim_create(id, secret))) {
		err = -errno;
		goto out;
	}
	e->adopted = false;	/* a file of the journal claims it */
	fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
	err = fd < 0 ? -errno : fd;
out:
	pthread_mutex_unlock(&shim.lock);
	return err;
}

static int prov_shim_backing_unlink(struct gm_prov_inst *pi, uint64_t id)
{
	struct shim_ent *e;
	int err = -ENOENT;

	(void)pi;
	pthread_mutex_lock(&shim.lock);
	e = shim_find(id);
	if (e) {
		struct shim_route *rt = shim_route_of(e->kid);

		if (rt && !rt->fn)
			*rt = (struct shim_route){ 0 };	/* stuck no more */
		if (e->adopted)
			gm_warn("shim: shim file %u of file %016llx, which no file of the journal "
				"names: deleted", e->kid, (unsigned long long)id);
		/* The memory goes with the last fd and mapping (an INVALIDATE). */
		err = gm_shimc_delete(shim.nl, e->kid);
		if (err && err != -ENOENT)
			gm_err("shim: file %016llx: deleting shim file %u: %s; its memory "
			       "stays until the module is reloaded", (unsigned long long)id,
			       e->kid, shim_reason(err));
		close(e->fd);
		*e = shim.ents[--shim.n];
		err = 0;
	}
	pthread_mutex_unlock(&shim.lock);
	if (!err)
		gm_private_forget(id);
	return err;
}

static int prov_shim_usage(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit)
{
	pthread_mutex_lock(&shim.lock);
	*used = shim.pages * SHIM_PAGE;
	pthread_mutex_unlock(&shim.lock);
	*limit = pi->limit;
	return 0;
}

static int prov_shim_set_limit(struct gm_prov_inst *pi, uint64_t bytes)
{
	uint64_t used, limit;

	int err;

	prov_shim_usage(pi, &used, &limit);
	if (bytes < used)
		return -EINVAL;
	pthread_mutex_lock(&shim.lock);
	err = shim_send_limit(bytes);
	pthread_mutex_unlock(&shim.lock);
	if (err)
		return err;
	pi->limit = bytes;
	return 0;
}

static int prov_shim_for_each_backing(struct gm_prov_inst *pi,
				      int (*fn)(void *ctx, uint64_t id), void *ctx)
{
	uint64_t *ids;
	size_t n;
	int err = 0;

	(void)pi;
	/* A copy: fn may unlink, which takes the lock. */
	pthread_mutex_lock(&shim.lock);
	n = shim.n;
	ids = calloc(n ? n : 1, sizeof(*ids));
	for (size_t i = 0; ids && i < n; i++)
		ids[i] = shim.ents[i].ino;
	pthread_mutex_unlock(&shim.lock);
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = fn(ctx, ids[i]);
	free(ids);
	return err;
}

/* A copy of the entry of ino (by_kid: of kid): 0, -ENOENT, -ENODEV. */
static int shim_ent_copy(uint64_t key, bool by_kid, struct shim_ent *out)
{
	struct shim_ent *e;
	int err = -ENODEV;

	pthread_mutex_lock(&shim.lock);
	if (shim.nl) {
		e = by_kid ? shim_find_kid((uint32_t)key) : shim_find(key);
		err = e ? 0 : -ENOENT;
		if (e)
			*out = *e;
	}
	pthread_mutex_unlock(&shim.lock);
	return err;
}

int gm_shim_file_id(uint64_t ino, uint32_t *kid)
{
	struct shim_ent e;
	int err = shim_ent_copy(ino, false, &e);

	if (!err)
		*kid = e.kid;
	return err;
}

int gm_shim_file_secret(uint64_t ino, bool *secret)
{
	struct shim_ent e;
	int err = shim_ent_copy(ino, false, &e);

	if (!err)
		*secret = e.secret;
	return err;
}

bool gm_shim_secret_ready(void)
{
	bool ready;

	pthread_mutex_lock(&shim.lock);
	ready = shim.nl && shim.carve_pages;
	pthread_mutex_unlock(&shim.lock);
	return ready;
}

int gm_shim_carveout(uint64_t *pages, uint64_t *free_pages)
{
	int err = -ENODEV;

	pthread_mutex_lock(&shim.lock);
	if (shim.nl)
		err = gm_shimc_info(shim.nl, pages, free_pages);
	pthread_mutex_unlock(&shim.lock);
	return err;
}

int gm_shim_file_mode(uint32_t kid, uint32_t *mode)
{
	struct shim_ent e;
	int err = shim_ent_copy(kid, true, &e);

	if (!err)
		*mode = e.mode;
	return err;
}

int gm_shim_route(uint32_t kid, gm_shim_event_fn fn, void *ctx)
{
	struct shim_route *free_rt;
	int err = -EBUSY;

	pthread_mutex_lock(&shim.lock);
	free_rt = shim_route_of(kid) ? NULL : shim_route_of_free();
	if (free_rt) {
		*free_rt = (struct shim_route){ .kid = kid, .fn = fn, .ctx = ctx };
		err = 0;
	}
	pthread_mutex_unlock(&shim.lock);
	return err;
}

void gm_shim_unroute(uint32_t kid, bool stuck)
{
	struct shim_route *rt;

	pthread_mutex_lock(&shim.lock);
	rt = shim_route_of(kid);
	if (rt && stuck)
		rt->fn = NULL;	/* kept until the file goes */
	else if (rt)
		*rt = (struct shim_route){ 0 };
	pthread_mutex_unlock(&shim.lock);
}

int gm_shim_set_mode(uint32_t kid, uint32_t mode)
{
	int err = -ENODEV;

	pthread_mutex_lock(&shim.lock);
	if (shim.nl)
		err = gm_shimc_set_mode(shim.nl, kid, mode);
	if (!err && shim_find_kid(kid))
		shim_find_kid(kid)->mode = mode;
	/* ENOENT: the file was released meanwhile; the caller knows. */
	if (err && err != -ENODEV && err != -ENOENT)
		gm_err("shim: file %u: turning it to %s mode: %s", kid,
		       mode == GMEMFS_SHIM_FAULT_ASK ? "ask" : "auto", shim_reason(err));
	pthread_mutex_unlock(&shim.lock);
	return err;
}

/* Base pages the shim file holds, from its st_blocks; shim.lock held. */
static uint64_t shim_file_pages(const struct shim_ent *e)
{
	struct stat st;

	return e && !fstat(e->fd, &st) ? (uint64_t)st.st_blocks * 512 / SHIM_PAGE : 0;
}

int gm_shim_populate(uint32_t kid, uint64_t offset, const void *data, size_t len,
		     uint32_t req_id)
{
	struct shim_ent *e;
	uint64_t before, after;
	int err = -ENODEV;

	pthread_mutex_lock(&shim.lock);
	e = shim_find_kid(kid);
	before = shim_file_pages(e);
	if (shim.nl)
		err = gm_shimc_populate(shim.nl, kid, offset, data, len, req_id);
	/* The module reports no ALLOC for what the daemon populates; what it
	 * frees meanwhile comes as INVALIDATE, counted there. */
	after = shim_file_pages(e);
	shim.pages += after > before ? after - before : 0;
	pthread_mutex_unlock(&shim.lock);
	return err;
}

int gm_shim_done(uint32_t req_id, int err)
{
	int ret = -ENODEV;

	pthread_mutex_lock(&shim.lock);
	if (shim.nl)
		ret = gm_shimc_done(shim.nl, req_id, err);
	pthread_mutex_unlock(&shim.lock);
	return ret;
}

const struct gm_provider gm_prov_shim = {
	.name = "shim",
	.id = GMEMFS_PROV_SHIM,
	.page_size = SHIM_PAGE,
	.passthrough = true,
	.attach = prov_shim_attach,
	.detach = prov_shim_detach,
	.start = prov_shim_start,
	.backing_open = prov_shim_backing_open,
	.backing_unlink = prov_shim_backing_unlink,
	.set_limit = prov_shim_set_limit,
	.usage = prov_shim_usage,
	.for_each_backing = prov_shim_for_each_backing,
};
