/*
 * The pool command: the budget, its use, and each provider instance's page
 * size, use and limit, as .gmemfs/stats and statfs show them; with the
 * shim, its carve-out for secret files.
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "ctl/cmd.h"

static int gm_ctl_put_prov(struct nl_msg *msg, const struct gm_provider *p,
			   uint64_t used, uint64_t limit)
{
	struct nlattr *nest = nla_nest_start(msg, GMEMFS_CTL_A_POOL_PROV);

	if (!nest || nla_put_u32(msg, GMEMFS_CTL_PROV_A_ID, p->id) < 0 ||
	    nla_put_string(msg, GMEMFS_CTL_PROV_A_NAME, p->name) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_PROV_A_PAGE_SIZE, p->page_size) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_PROV_A_USED, used) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_PROV_A_LIMIT, limit) < 0)
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

/* The carve-out's figures, when the shim is attached; a module that does
 * not answer INFO is logged and the figures left out. */
static int gm_ctl_put_secret(struct gm_ctl_req *r)
{
	uint64_t size, free_bytes;
	int err = gm_pool_secret(&r->fs->pool, &size, &free_bytes);

	if (err == -ENODEV)
		return 0;
	if (err) {
		gm_warn("pool: the shim module's carve-out figures: %s", strerror(-err));
		return 0;
	}
	if (nla_put_u64(r->reply, GMEMFS_CTL_A_POOL_SECRET_SIZE, size) < 0 ||
	    nla_put_u64(r->reply, GMEMFS_CTL_A_POOL_SECRET_FREE, free_bytes) < 0)
		return gm_ctl_fail(r, -EMSGSIZE, "reply too long");
	return 0;
}

int gm_ctl_cmd_pool(struct gm_ctl_req *r)
{
	struct gm_pool_usage u = { 0 };
	int err;

	err = gm_pool_usage(&r->fs->pool, &u);
	if (err)
		return gm_ctl_fail(r, err, "cannot read the pool's figures");
	err = -EMSGSIZE;
	if (nla_put_u64(r->reply, GMEMFS_CTL_A_POOL_BUDGET, u.budget) < 0 ||
	    nla_put_u64(r->reply, GMEMFS_CTL_A_POOL_USED, u.used) < 0 ||
	    nla_put_u64(r->reply, GMEMFS_CTL_A_POOL_FREE, u.free) < 0)
		return gm_ctl_fail(r, err, "reply too long");
	err = gm_ctl_put_secret(r);
	if (err)
		return err;
	err = -EMSGSIZE;
	for (unsigned i = 0; i < GM_NPROV; i++) {
		const struct gm_provider *p = r->fs->pool.inst[i].prov;

		if (p && gm_ctl_put_prov(r->reply, p, u.prov[i].used, u.prov[i].limit))
			return gm_ctl_fail(r, err, "reply too long");
	}
	return 0;
}
