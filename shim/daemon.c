// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's side of the shim, as the kernel sees it: who the registered
 * daemon is, the queue of events waiting for it to ACCEPT them, and the
 * FAULT/CONVERT requests waiting for its answer.  When the daemon's netlink
 * socket goes away (NETLINK_URELEASE), every pending request fails at once,
 * so no fault waits for a daemon that is gone.
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
		 "how long a fault or conversion waits for the daemon (ms)");

/* Reports (ALLOC, INVALIDATE) beyond this are dropped and counted as lost. */
#define SHIM_QUEUE_MAX	4096

struct shim_event {
	struct list_head node;
	u32 type, file_id, req_id, flags;
	u64 offset, length, pages;
	u32 uid, pid;		/* CONVERT: who asked (attr.c) */
};

static struct {
	/* registration: portid and net change under lock */
	struct mutex lock;
	u32 portid;		/* 0: no daemon; read locklessly by submitters */
	struct net *net;
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

/* Queue an event; true if the queue was empty (the daemon needs a NOTIFY). */
static bool __shim_queue(struct shim_event *ev, bool report)
{
	struct shim_event *last;
	bool first;

	spin_lock(&shim_daemon.queue_lock);
	if (!READ_ONCE(shim_daemon.portid)) {
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

static int shim_queue(u32 type, u32 file_id, u64 offset, u64 length,
		      u64 pages, u32 flags, u32 req_id)
{
	struct shim_event *ev;
	/* A conversion's outcome is never dropped: the daemon journals it. */
	bool report = req_id == 0 && type != GMEMFS_SHIM_EV_CONVERT;

	ev = kzalloc(sizeof(*ev), GFP_KERNEL);
	if (!ev)
		return -ENOMEM;
	*ev = (struct shim_event){ .type = type, .file_id = file_id,
		.req_id = req_id, .flags = flags, .offset = offset,
		.length = length, .pages = pages };
	if (type == GMEMFS_SHIM_EV_CONVERT) {
		/* Queued in the converting task's context. */
		ev->uid = from_kuid_munged(&init_user_ns, current_fsuid());
		ev->pid = task_tgid_nr(current);
	}
	if (__shim_queue(ev, report))
		shim_notify();
	return 0;
}

/* Reports are best effort: with no daemon, nobody is listening. */
void shim_report(u32 type, u32 file_id, u64 offset, u64 length, u64 pages,
		 u32 flags)
{
	if (READ_ONCE(shim_daemon.portid))
		shim_queue(type, file_id, offset, length, pages, flags, 0);
}

static void shim_req_release(struct kref *ref)
{
	kfree(container_of(ref, struct shim_req, ref));
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

/*
 * Queue a request for the daemon.  The caller holds a reference and must
 * shim_req_wait() then shim_req_put() it.
 */
struct shim_req *shim_req_submit(u32 type, u32 file_id, u64 offset,
				 u64 length, u32 flags)
{
	struct shim_req *req;
	int err;

	err = -ENOTCONN;
	if (!READ_ONCE(shim_daemon.portid))
		goto err;
	err = -ENOMEM;
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		goto err;
	kref_init(&req->ref);
	kref_get(&req->ref);	/* the table's */
	init_waitqueue_head(&req->wq);
	req->type = type;
	req->file_id = file_id;
	req->offset = offset;
	req->length = length;
	req->flags = flags;
	err = xa_alloc_cyclic(&shim_reqs, &req->id, req, xa_limit_32b,
			      &shim_req_next, GFP_KERNEL);
	if (err < 0)
		goto err_free;
	err = shim_queue(type, file_id, offset, length, 0, flags, req->id);
	if (err)
		goto err_erase;
	/*
	 * The daemon may have gone between the check above and the table
	 * insert; its URELEASE then ran before the insert and missed us.
	 */
	if (!READ_ONCE(shim_daemon.portid))
		shim_req_complete(req->id, -ENOTCONN);
	return req;

err_erase:
	xa_erase(&shim_reqs, req->id);
err_free:
	kfree(req);
err:
	return ERR_PTR(err);
}

/* 0 or the daemon's negative errno; -ETIMEDOUT, -EINTR, -ENOTCONN. */
int shim_req_wait(struct shim_req *req)
{
	long left;
	int err;

	left = wait_event_killable_timeout(req->wq, READ_ONCE(req->done),
				msecs_to_jiffies(READ_ONCE(ask_timeout_ms)));
	xa_lock(&shim_reqs);
	if (req->done) {
		err = req->status;
	} else {
		err = left < 0 ? -EINTR : -ETIMEDOUT;
		__shim_req_finish(req, err);
	}
	xa_unlock(&shim_reqs);
	if (err == -ETIMEDOUT)
		pr_warn_ratelimited("gmemfs: file %u: daemon did not answer %s at offset %llu in %u ms\n",
				    req->file_id,
				    req->type == GMEMFS_SHIM_EV_FAULT ? "fault" : "conversion",
				    req->offset, ask_timeout_ms);
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

/* Forget the daemon: drop its queue, fail everything waiting for it. */
static void __shim_daemon_forget(void)
{
	struct shim_event *ev, *tmp;
	struct shim_req *req;
	unsigned long id;
	LIST_HEAD(gone);

	lockdep_assert_held(&shim_daemon.lock);
	WRITE_ONCE(shim_daemon.portid, 0);
	put_net(shim_daemon.net);
	shim_daemon.net = NULL;

	spin_lock(&shim_daemon.queue_lock);
	list_splice_init(&shim_daemon.queue, &gone);
	shim_daemon.nr_queued = 0;
	shim_daemon.lost = 0;
	spin_unlock(&shim_daemon.queue_lock);
	list_for_each_entry_safe(ev, tmp, &gone, node)
		kfree(ev);

	xa_lock(&shim_reqs);
	xa_for_each(&shim_reqs, id, req)
		__shim_req_finish(req, -ENOTCONN);
	xa_unlock(&shim_reqs);
}

int shim_daemon_register(struct genl_info *info)
{
	int err;

	mutex_lock(&shim_daemon.lock);
	err = -EBUSY;
	if (shim_daemon.portid) {
		GENL_SET_ERR_MSG(info, "another daemon is registered");
		goto out;
	}
	shim_daemon.net = get_net(genl_info_net(info));
	WRITE_ONCE(shim_daemon.portid, info->snd_portid);
	err = 0;
	pr_info("gmemfs: daemon registered (pid %d, port %u)\n",
		task_tgid_nr(current), info->snd_portid);
out:
	mutex_unlock(&shim_daemon.lock);
	return err;
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

int shim_daemon_unregister(struct genl_info *info)
{
	int err;

	mutex_lock(&shim_daemon.lock);
	err = -EPERM;
	if (shim_daemon.portid == info->snd_portid &&
	    net_eq(shim_daemon.net, genl_info_net(info))) {
		__shim_daemon_forget();
		pr_info("gmemfs: daemon unregistered\n");
		err = 0;
	} else {
		GENL_SET_ERR_MSG(info, "sender is not the registered daemon");
	}
	mutex_unlock(&shim_daemon.lock);
	return err;
}

static int shim_netlink_event(struct notifier_block *nb, unsigned long event,
			      void *ptr)
{
	struct netlink_notify *n = ptr;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC)
		return NOTIFY_DONE;
	mutex_lock(&shim_daemon.lock);
	if (shim_daemon.portid && shim_daemon.portid == n->portid &&
	    net_eq(shim_daemon.net, n->net)) {
		__shim_daemon_forget();
		pr_info("gmemfs: daemon's socket closed; pending requests failed\n");
	}
	mutex_unlock(&shim_daemon.lock);
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
	netlink_unregister_notifier(&shim_netlink_nb);
	mutex_lock(&shim_daemon.lock);
	if (shim_daemon.portid)
		__shim_daemon_forget();
	mutex_unlock(&shim_daemon.lock);
	WARN_ON(!xa_empty(&shim_reqs));
	xa_destroy(&shim_reqs);
}
