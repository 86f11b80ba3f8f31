// SPDX-License-Identifier: GPL-2.0
/*
 * Owners: the state directories of the daemons that created shim files,
 * each named by the 16..32-byte token its daemon registers with.  A file
 * and each of its pending requests hold their owner; the registered
 * daemon holds its own.  Only the daemon registered with a file's token
 * reaches the file (netlink.c checks), gets its events (daemon.c), and
 * answers its requests; when it goes away they wait for the next daemon
 * of the same token for daemon_grace_ms (daemon.c), then fail.
 *
 * Not for: the registration itself (daemon.c) or files (file.c).
 */
#include <linux/module.h>
#include <linux/slab.h>

#include "shim.h"

unsigned int shim_daemon_grace_ms = 30000;
module_param_named(daemon_grace_ms, shim_daemon_grace_ms, uint, 0644);
MODULE_PARM_DESC(daemon_grace_ms,
		 "how long faults and conversions of a token's files wait for its daemon to register again (ms)");

/* Under shim_daemon.lock (daemon.c), which creates and frees owners. */
static LIST_HEAD(shim_owners);

/* The owner of @token, referenced, created if new.  shim_daemon.lock held. */
struct shim_owner *shim_owner_find(const u8 *token, u32 len)
{
	struct shim_owner *o;

	list_for_each_entry(o, &shim_owners, node)
		if (o->len == len && !memcmp(o->token, token, len))
			return shim_owner_get(o);
	o = kzalloc(sizeof(*o), GFP_KERNEL);
	if (!o)
		return NULL;
	kref_init(&o->ref);
	atomic_long_set(&o->budget.held, 0);
	o->budget.limit = ULONG_MAX;
	memcpy(o->token, token, len);
	o->len = len;
	list_add(&o->node, &shim_owners);
	return o;
}

struct shim_owner *shim_owner_get(struct shim_owner *o)
{
	if (o)
		kref_get(&o->ref);
	return o;
}

static void shim_owner_release(struct kref *ref)
{
	struct shim_owner *o = container_of(ref, struct shim_owner, ref);

	list_del(&o->node);
	mutex_unlock(shim_daemon_lock());
	kfree(o);
}

/* May take shim_daemon.lock: not under it. */
void shim_owner_put(struct shim_owner *o)
{
	if (o)
		kref_put_mutex(&o->ref, shim_owner_release, shim_daemon_lock());
}
