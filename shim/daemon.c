// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's side of the shim, as the kernel sees it: who the registered
 * daemon is (its socket, and its owner: the token of its state directory),
 * the queue of events waiting for it to ACCEPT them, and the FAULT/CONVERT
 * requests waiting for its answer.
 *
 * When the daemon's netlink socket goes away (NETLINK_URELEASE) or it
 * unregisters, its queue is dropped.  Requests of a token's files wait for
 * the next daemon of that token, up to daemon_grace_ms (owner.c) from its
 * going; when it registers they are sent to it again with their REQ_IDs,
 * and ask_timeout_ms bounds their wait from then on.  Past the grace they
 * fail (-ENOTCONN: SIGBUS for a fault), and new ones fail at once.  A
 * daemon without a token has no successor: its requests fail at once.
 *
 * Not for: the netlink message format (netlink.c) or files (file.c).
 */
#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/cred.h>
#include <linux/slab.h>
#include <net/net_namespace.h>

#include "shim.h"

static unsigned int ask_timeout_ms = 10000;
module_param(ask_timeout_ms, uint, 0644);
MODULE_PARM_DESC(ask_timeout_ms,
		 "how long a fault or conversion waits for the registered daemon (ms)");

/* Reports (ALLOC, INVALIDATE) beyond this are dropped and counted as lost. */
#define SHIM_QUEUE_MAX	4096

struct shim_event {
	struct list_head node;
	u32 type, file_id, req_id, flags;
	u64 offset, length, pages;
	u32 uid, pid;		/* CONVERT: who asked (attr.c) */
};

static struct {
	/*
	 * registration: portid, net and owner change under lock (portid and
	 * owner under queue_lock too); requests are submitted under it.
	 */
	struct mutex lock;
	u32 portid;		/* 0: no daemon; read locklessly by reporters */
	struct net *net;
	struct shim_owner *owner;	/* referenced; NULL: no token */
	/* queue, nr_queued, lost under queue_lock */
	spinlock_t queue_lock;
	struct list_head queue;
	unsigned int nr_queued;
	u32 lost;
} shim_daemon = {
	.lock = __MUTEX_INITIALIZER(shim_daemon.lock),
	.queue_lock = __SPIN_LOCK_UNLOCKED(shim_daemon.queue_lock),
	.queue = LIST_HEAD_INIT(shim_daemon.queue),
};

/* Pending requests by id; xa_lock also orders req->done against waiters. */
static DEFINE_XARRAY_ALLOC1(shim_reqs);
static u32 shim_req_next;

struct mutex *shim_daemon_lock(void)
{
	return &shim_daemon.lock;
}

/*
 * Queue an event for the daemon of @owner, dropped if another one or none
 * is registered; true if the queue was empty (the daemon needs a NOTIFY).
 */
static bool __shim_queue(struct shim_event *ev, struct shim_owner *owner,
			 bool report)
{
	struct shim_event *last;
	bool first;

	spin_lock(&shim_daemon.queue_lock);
	if (!shim_daemon.portid || shim_daemon.owner != owner) {
		spin_unlock(&shim_daemon.queue_lock);
		kfree(ev);
		return false;
	}
	first = list_empty(&shim_daemon.queue);
	/* Batch: an ALLOC right after the previous one extends it. */
	last = first ? NULL :
		list_last_entry(&shim_daemon.queue, struct shim_event, node);
	if (report && last && last->type == GMEMFS_SHIM_EV_ALLOC &&
	    ev->type == GMEMFS_SHIM_EV_ALLOC && last->file_id == ev->file_id &&
	    last->offset + last->length == ev->offset) {
		last->length += ev->length;
		last->pages += ev->pages;
		spin_unlock(&shim_daemon.queue_lock);
		kfree(ev);
		return false;
	}
	if (report && shim_daemon.nr_queued >= SHIM_QUEUE_MAX) {
		shim_daemon.lost++;
		spin_unlock(&shim_daemon.queue_lock);
		kfree(ev);
		return false;
	}
	list_add_tail(&ev->node, &shim_daemon.queue);
	shim_daemon.nr_queued++;
	spin_unlock(&shim_daemon.queue_lock);
	return first;
}

static void shim_notify(void)
{
	struct net *net;

	mutex_lock(&shim_daemon.lock);
	net = shim_daemon.net ? get_net(shim_daemon.net) : NULL;
	mutex_unlock(&shim_daemon.lock);
	if (!net)
		return;
	shim_genl_notify(net);
	put_net(net);
}

static struct shim_event *shim_event_new(u32 type, u32 file_id, u64 offset,
					 u64 length, u64 pages, u32 flags,
					 u32 req_id)
{
	struct shim_event *ev = kzalloc(sizeof(*ev), GFP_KERNEL);

	if (ev)
		*ev = (struct shim_event){ .type = type, .file_id = file_id,
			.req_id = req_id, .flags = flags, .offset = offset,
			.length = length, .pages = pages };
	if (ev && type == GMEMFS_SHIM_EV_CONVERT) {
		/* Made in the converting task's context (attr.c). */
		ev->uid = from_kuid_munged(&init_user_ns, current_fsuid());
		ev->pid = task_tgid_nr(current);
	}
	return ev;
}

/*
 * Reports are best effort: with no daemon, or another state directory's,
 * nobody is listening for them.
 */
void shim_report(struct shim_file *sf, u32 type, u64 offset, u64 length,
		 u64 pages, u32 flags)
{
	struct shim_event *ev;

	if (!READ_ONCE(shim_daemon.portid))
		return;
	ev = shim_event_new(type, sf->id, offset, length, pages, flags, 0);
	/* A conversion's outcome is never dropped: the daemon journals it. */
	if (ev && __shim_queue(ev, sf->owner, type != GMEMFS_SHIM_EV_CONVERT))
		shim_notify();
}

/* The last reference is never under a spinlock: the waiter's, or resend's. */
static void shim_req_release(struct kref *ref)
{
	struct shim_req *req = container_of(ref, struct shim_req, ref);

	shim_owner_put(req->owner);
	kfree(req);
}

void shim_req_put(struct shim_req *req)
{
	kref_put(&req->ref, shim_req_release);
}

/* Called with the xa_lock held; wakes the waiter. */
static void __shim_req_finish(struct shim_req *req, int status)
{
	__xa_erase(&shim_reqs, req->id);
	req->status = status;
	req->done = true;
	wake_up_all(&req->wq);
	shim_req_put(req);	/* the table's reference */
}

int shim_req_complete(u32 id, int status)
{
	struct shim_req *req;

	xa_lock(&shim_reqs);
	req = xa_load(&shim_reqs, id);
	if (req)
		__shim_req_finish(req, status);
	xa_unlock(&shim_reqs);
	return req ? 0 : -ENOENT;
}

/* Whether @o's daemon went less than the grace ago.  shim_daemon.lock held. */
static bool shim_owner_in_grace(struct shim_owner *o)
{
	return o && o->gone && time_before(jiffies, o->gone_at +
				msecs_to_jiffies(READ_ONCE(shim_daemon_grace_ms)));
}

/*
 * Into the table, and to the daemon if it is the file's: deadline from
 * now; or, while the file's daemon is away within the grace, kept with the
 * grace's end as deadline.  -ENOTCONN otherwise.  shim_daemon.lock held.
 */
static int __shim_req_enter(struct shim_req *req, struct shim_event *ev,
			    bool *notify)
{
	struct shim_owner *o = req->owner;
	bool live = shim_daemon.portid && shim_daemon.owner == o;
	int err;

	if (!live && !shim_owner_in_grace(o))
		return -ENOTCONN;
	req->orphan = !live;
	req->deadline = live ? jiffies + msecs_to_jiffies(READ_ONCE(ask_timeout_ms)) :
		o->gone_at + msecs_to_jiffies(READ_ONCE(shim_daemon_grace_ms));
	err = xa_alloc_cyclic(&shim_reqs, &req->id, req, xa_limit_32b,
			      &shim_req_next, GFP_KERNEL);
	if (err < 0)
		return err;
	ev->req_id = req->id;
	*notify = live && __shim_queue(ev, o, false);
	if (!live)
		kfree(ev);
	return 0;
}

/*
 * Queue a request for the daemon.  The caller holds a reference to the
 * file, and must shim_req_wait() then shim_req_put() the request.
 */
struct shim_req *shim_req_submit(u32 type, u32 file_id, u64 offset,
				 u64 length, u32 flags)
{
	struct shim_event *ev;
	struct shim_req *req;
	bool notify = false;
	int err;

	err = -ENOMEM;
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	ev = shim_event_new(type, file_id, offset, length, 0, flags, 0);
	if (!req || !ev)
		goto err;
	kref_init(&req->ref);
	kref_get(&req->ref);	/* the table's */
	init_waitqueue_head(&req->wq);
	req->type = type;
	req->file_id = file_id;
	req->offset = offset;
	req->uid = ev->uid;
	req->pid = ev->pid;
	req->length = length;
	req->flags = flags;
	req->owner = shim_file_owner(file_id);
	mutex_lock(&shim_daemon.lock);
	err = __shim_req_enter(req, ev, &notify);
	mutex_unlock(&shim_daemon.lock);
	if (err)
		goto err_owner;
	if (notify)
		shim_notify();
	return req;

err_owner:
	shim_owner_put(req->owner);
err:
	kfree(ev);
	kfree(req);
	return ERR_PTR(err);
}

static void shim_req_warn(struct shim_req *req, int err)
{
	const char *what = req->type == GMEMFS_SHIM_EV_FAULT ? "fault" : "conversion";

	if (err == -ETIMEDOUT)
		pr_warn_ratelimited("gmemfs: file %u: daemon did not answer %s at offset %llu in %u ms\n",
				    req->file_id, what, req->offset, ask_timeout_ms);
	if (err == -ENOTCONN)
		pr_warn_ratelimited("gmemfs: file %u: %s at offset %llu failed: its daemon did not come back in %u ms\n",
				    req->file_id, what, req->offset,
				    shim_daemon_grace_ms);
}

/*
 * The wait ends with the answer, or at the deadline, which moves (wq
 * woken) when the daemon goes or comes back.  Under the table's lock: the
 * answer, or the deadline passed (*err set, the request finished).
 */
static bool __shim_req_over(struct shim_req *req, unsigned long *deadline,
			    int *err)
{
	if (req->done) {
		*err = req->status;
		return true;
	}
	*deadline = req->deadline;
	if (time_before(jiffies, *deadline))
		return false;
	*err = req->orphan ? -ENOTCONN : -ETIMEDOUT;
	__shim_req_finish(req, *err);
	return true;
}

/* 0 or the daemon's negative errno; -ETIMEDOUT, -EINTR, -ENOTCONN. */
int shim_req_wait(struct shim_req *req)
{
	unsigned long deadline;
	bool over;
	long left;
	int err;

	for (;;) {
		xa_lock(&shim_reqs);
		over = __shim_req_over(req, &deadline, &err);
		xa_unlock(&shim_reqs);
		if (over)
			break;
		left = wait_event_killable_timeout(req->wq, READ_ONCE(req->done) ||
				READ_ONCE(req->deadline) != deadline,
				max_t(long, deadline - jiffies, 1));
		if (left >= 0)
			continue;
		xa_lock(&shim_reqs);
		err = req->done ? req->status : -EINTR;
		if (!req->done)
			__shim_req_finish(req, err);
		xa_unlock(&shim_reqs);
		break;
	}
	shim_req_warn(req, err);
	return err;
}

/* Fill an ACCEPT reply with queued events, oldest first, while they fit. */
int shim_events_fill(struct sk_buff *msg)
{
	struct shim_event *ev, *tmp;
	struct nlattr *nest;
	LIST_HEAD(batch);
	bool lost_sent;
	int err = 0;
	u32 lost;

	/* Take the queue, fill without the lock, put back what did not fit. */
	spin_lock(&shim_daemon.queue_lock);
	list_splice_init(&shim_daemon.queue, &batch);
	shim_daemon.nr_queued = 0;
	lost = shim_daemon.lost;
	shim_daemon.lost = 0;
	spin_unlock(&shim_daemon.queue_lock);

	lost_sent = !lost || !nla_put_u32(msg, GMEMFS_SHIM_A_LOST, lost);
	if (!lost_sent)
		err = -EMSGSIZE;
	list_for_each_entry_safe(ev, tmp, &batch, node) {
		if (err)
			break;
		nest = nla_nest_start(msg, GMEMFS_SHIM_A_EVENT);
		if (!nest ||
		    nla_put_u32(msg, GMEMFS_SHIM_A_EVENT_TYPE, ev->type) ||
		    nla_put_u32(msg, GMEMFS_SHIM_A_FILE_ID, ev->file_id) ||
		    nla_put_u64_64bit(msg, GMEMFS_SHIM_A_OFFSET, ev->offset, GMEMFS_SHIM_A_PAD) ||
		    nla_put_u64_64bit(msg, GMEMFS_SHIM_A_LENGTH, ev->length, GMEMFS_SHIM_A_PAD) ||
		    (ev->pages && nla_put_u64_64bit(msg, GMEMFS_SHIM_A_PAGES, ev->pages, GMEMFS_SHIM_A_PAD)) ||
		    (ev->flags && nla_put_u32(msg, GMEMFS_SHIM_A_FLAGS, ev->flags)) ||
		    (ev->req_id && nla_put_u32(msg, GMEMFS_SHIM_A_REQ_ID, ev->req_id)) ||
		    (ev->type == GMEMFS_SHIM_EV_CONVERT &&
		     (nla_put_u32(msg, GMEMFS_SHIM_A_UID, ev->uid) ||
		      nla_put_u32(msg, GMEMFS_SHIM_A_PID, ev->pid)))) {
			if (nest)
				nla_nest_cancel(msg, nest);
			err = -EMSGSIZE;
			break;
		}
		nla_nest_end(msg, nest);
		list_del(&ev->node);
		kfree(ev);
	}

	if (!list_empty(&batch) || !lost_sent) {
		unsigned int n = 0;

		list_for_each_entry(ev, &batch, node)
			n++;
		spin_lock(&shim_daemon.queue_lock);
		list_splice(&batch, &shim_daemon.queue);
		shim_daemon.nr_queued += n;
		if (!lost_sent)
			shim_daemon.lost += lost;
		spin_unlock(&shim_daemon.queue_lock);
	}
	/* A full reply is not an error: the daemon ACCEPTs again. */
	return 0;
}

/* Its requests wait for the next daemon of its owner, if it has one. */
static void __shim_reqs_orphan(struct shim_owner *o)
{
	unsigned long grace = msecs_to_jiffies(READ_ONCE(shim_daemon_grace_ms));
	struct shim_req *req;
	unsigned long id;

	xa_lock(&shim_reqs);
	xa_for_each(&shim_reqs, id, req) {
		if (req->owner != o)
			continue;	/* another token's, already waiting */
		if (!o || !grace) {
			__shim_req_finish(req, -ENOTCONN);
			continue;
		}
		req->orphan = true;
		WRITE_ONCE(req->deadline, o->gone_at + grace);
		wake_up_all(&req->wq);
	}
	xa_unlock(&shim_reqs);
}

/*
 * Forget the daemon: drop its queue; its requests wait for the grace or
 * fail.  Its owner, for the caller to put once shim_daemon.lock is free.
 */
static struct shim_owner *__shim_daemon_forget(void)
{
	struct shim_owner *o = shim_daemon.owner;
	struct shim_event *ev, *tmp;
	LIST_HEAD(gone);

	lockdep_assert_held(&shim_daemon.lock);
	put_net(shim_daemon.net);
	shim_daemon.net = NULL;

	spin_lock(&shim_daemon.queue_lock);
	WRITE_ONCE(shim_daemon.portid, 0);
	shim_daemon.owner = NULL;
	list_splice_init(&shim_daemon.queue, &gone);
	shim_daemon.nr_queued = 0;
	shim_daemon.lost = 0;
	spin_unlock(&shim_daemon.queue_lock);
	list_for_each_entry_safe(ev, tmp, &gone, node)
		kfree(ev);

	if (o) {
		o->gone = true;
		o->gone_at = jiffies;
	}
	__shim_reqs_orphan(o);
	return o;
}

/*
 * Send the owner's pending requests to its new daemon, same REQ_IDs, each
 * bounded by ask_timeout_ms from now.  shim_daemon.lock held; the
 * requests, referenced on @resend, for the caller to put after it.
 */
static bool __shim_reqs_resend(struct shim_owner *o, struct list_head *resend)
{
	struct shim_event *ev;
	struct shim_req *req;
	unsigned long id;
	bool notify = false, done;

	xa_lock(&shim_reqs);
	xa_for_each(&shim_reqs, id, req)
		if (req->owner == o) {
			kref_get(&req->ref);
			list_add_tail(&req->resend, resend);
		}
	xa_unlock(&shim_reqs);
	list_for_each_entry(req, resend, resend) {
		/* Without memory it waits out its grace. */
		ev = shim_event_new(req->type, req->file_id, req->offset,
				    req->length, 0, req->flags, req->id);
		if (!ev)
			continue;
		ev->uid = req->uid;	/* the asker's, not ours */
		ev->pid = req->pid;
		xa_lock(&shim_reqs);
		done = req->done;	/* timed out or killed meanwhile */
		req->orphan = false;
		WRITE_ONCE(req->deadline, jiffies +
			   msecs_to_jiffies(READ_ONCE(ask_timeout_ms)));
		wake_up_all(&req->wq);
		xa_unlock(&shim_reqs);
		if (done)
			kfree(ev);
		else
			notify |= __shim_queue(ev, o, false);
	}
	return notify;
}

static void shim_reqs_put(struct list_head *reqs)
{
	struct shim_req *req, *tmp;

	list_for_each_entry_safe(req, tmp, reqs, resend)
		shim_req_put(req);
}

/* @token NULL: a daemon without one.  Its owner's requests come back. */
int shim_daemon_register(struct genl_info *info, const u8 *token, u32 len)
{
	struct shim_owner *o = NULL;
	LIST_HEAD(resend);
	bool notify = false;
	int err;

	mutex_lock(&shim_daemon.lock);
	err = -EBUSY;
	if (shim_daemon.portid) {
		GENL_SET_ERR_MSG(info, "another daemon is registered");
		goto out;
	}
	err = -ENOMEM;
	if (token && !(o = shim_owner_find(token, len)))
		goto out;
	shim_daemon.net = get_net(genl_info_net(info));
	spin_lock(&shim_daemon.queue_lock);
	shim_daemon.owner = o;
	WRITE_ONCE(shim_daemon.portid, info->snd_portid);
	spin_unlock(&shim_daemon.queue_lock);
	if (o) {
		o->gone = false;
		notify = __shim_reqs_resend(o, &resend);
	}
	err = 0;
	pr_info("gmemfs: daemon registered (pid %d, port %u, %s)\n",
		task_tgid_nr(current), info->snd_portid,
		o ? "with a token" : "no token: its files die with their fds");
out:
	mutex_unlock(&shim_daemon.lock);
	shim_reqs_put(&resend);
	if (notify)
		shim_notify();
	return err;
}

/* The registered daemon's owner, referenced (NULL: none, or no token). */
struct shim_owner *shim_daemon_owner(void)
{
	struct shim_owner *o;

	mutex_lock(&shim_daemon.lock);
	o = shim_owner_get(shim_daemon.owner);
	mutex_unlock(&shim_daemon.lock);
	return o;
}

/* 0 if the sender is the registered daemon. */
int shim_daemon_check(struct genl_info *info)
{
	int err = 0;

	mutex_lock(&shim_daemon.lock);
	if (!shim_daemon.portid || shim_daemon.portid != info->snd_portid ||
	    !net_eq(shim_daemon.net, genl_info_net(info))) {
		GENL_SET_ERR_MSG(info, "sender is not the registered daemon");
		err = -EPERM;
	}
	mutex_unlock(&shim_daemon.lock);
	return err;
}

/*
 * 0 if the sender is the registered daemon and @sf its state directory's
 * file (or both have no token); the caller's reference to @sf is dropped
 * on refusal.
 */
int shim_daemon_check_file(struct genl_info *info, struct shim_file *sf)
{
	int err;

	err = shim_daemon_check(info);
	if (err)
		goto err;
	mutex_lock(&shim_daemon.lock);
	err = sf->owner == shim_daemon.owner ? 0 : -EPERM;
	mutex_unlock(&shim_daemon.lock);
	if (!err)
		return 0;
	NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[GMEMFS_SHIM_A_FILE_ID],
			    "the file belongs to another daemon's state directory (token)");
err:
	shim_file_put(sf);
	return err;
}

/* The owner, for the caller to put once shim_daemon.lock is free. */
static struct shim_owner *__shim_daemon_gone(const char *how)
{
	struct shim_owner *o = __shim_daemon_forget();

	if (o)
		pr_info("gmemfs: daemon %s; pending requests wait %u ms for the next daemon of its token\n",
			how, shim_daemon_grace_ms);
	else
		pr_info("gmemfs: daemon %s; pending requests failed\n", how);
	return o;
}

int shim_daemon_unregister(struct genl_info *info)
{
	struct shim_owner *o = NULL;
	int err;

	mutex_lock(&shim_daemon.lock);
	err = -EPERM;
	if (shim_daemon.portid == info->snd_portid &&
	    net_eq(shim_daemon.net, genl_info_net(info))) {
		o = __shim_daemon_gone("unregistered");
		err = 0;
	} else {
		GENL_SET_ERR_MSG(info, "sender is not the registered daemon");
	}
	mutex_unlock(&shim_daemon.lock);
	shim_owner_put(o);
	return err;
}

static int shim_netlink_event(struct notifier_block *nb, unsigned long event,
			      void *ptr)
{
	struct netlink_notify *n = ptr;
	struct shim_owner *o = NULL;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC)
		return NOTIFY_DONE;
	mutex_lock(&shim_daemon.lock);
	if (shim_daemon.portid && shim_daemon.portid == n->portid &&
	    net_eq(shim_daemon.net, n->net))
		o = __shim_daemon_gone("socket closed");
	mutex_unlock(&shim_daemon.lock);
	shim_owner_put(o);
	return NOTIFY_DONE;
}

static struct notifier_block shim_netlink_nb = {
	.notifier_call = shim_netlink_event,
};

int shim_daemon_init(void)
{
	return netlink_register_notifier(&shim_netlink_nb);
}

void shim_daemon_exit(void)
{
	struct shim_owner *o = NULL;

	netlink_unregister_notifier(&shim_netlink_nb);
	mutex_lock(&shim_daemon.lock);
	if (shim_daemon.portid)
		o = __shim_daemon_gone("gone with the module");
	mutex_unlock(&shim_daemon.lock);
	shim_owner_put(o);
	WARN_ON(!xa_empty(&shim_reqs));
	xa_destroy(&shim_reqs);
}
