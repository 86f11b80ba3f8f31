// SPDX-License-Identifier: GPL-2.0
/*
 * The pfncache: kernel virtual mappings of shim file pages, kept for
 * in-kernel readers (as KVM's gfn_to_pfn_cache keeps guest pages for the
 * host's own accesses).  An entry holds a reference on its folio and the
 * kernel address; it is checked under a read lock and refreshed through
 * the normal page path when stale.  Punch hole, truncate and conversion to
 * private invalidate overlapping entries, under invalidate_lock held
 * exclusive, before the pages go, so a reader never sees a freed page.
 *
 * A secret file's page has no folio and no direct-map address: its entry
 * holds a mapping of its own of that one page (memremap), made under
 * invalidate_lock held shared (so the page stays the file's meanwhile)
 * and unmapped once the entry is cleared, outside gpc_lock (unmapping
 * sleeps), before the invalidation returns and so before the page goes.
 *
 * The only reader here is GMEMFS_SHIM_IOC_CACHE_READ, which exists to
 * exercise the cache from userspace.
 *
 * Not for: user mappings (folio.c does those).
 */
#include <linux/io.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "shim.h"

struct shim_gpc {
	struct list_head node;
	pgoff_t index;		/* immutable */
	/* under shim_file.gpc_lock */
	bool valid;
	struct folio *folio;	/* a reference while valid */
	void *khva;		/* kernel address of the base page */
	bool own_map;		/* khva is a secret page's own mapping */
};

/* Mappings of secret pages taken out of entries, to unmap unlocked. */
struct shim_gpc_unmaps {
	void *kaddr[SHIM_GPC_MAX];
	unsigned int nr;
};

static void __shim_gpc_clear(struct shim_gpc *gpc, struct shim_gpc_unmaps *u)
{
	if (gpc->own_map && !WARN_ON(u->nr >= SHIM_GPC_MAX))
		u->kaddr[u->nr++] = gpc->khva;
	gpc->own_map = false;
	gpc->valid = false;
	gpc->khva = NULL;
	if (gpc->folio)
		folio_put(gpc->folio);
	gpc->folio = NULL;
}

static void shim_gpc_unmap(struct shim_gpc_unmaps *u)
{
	while (u->nr)
		memunmap(u->kaddr[--u->nr]);
}

void shim_gpc_invalidate(struct shim_file *sf, loff_t start, loff_t end)
{
	pgoff_t first = start >> PAGE_SHIFT;
	pgoff_t last = (end - 1) >> PAGE_SHIFT;
	struct shim_gpc_unmaps u = { .nr = 0 };
	struct shim_gpc *gpc;

	write_lock(&sf->gpc_lock);
	list_for_each_entry(gpc, &sf->gpcs, node)
		if (gpc->index >= first && gpc->index <= last)
			__shim_gpc_clear(gpc, &u);
	write_unlock(&sf->gpc_lock);
	shim_gpc_unmap(&u);
}

void shim_gpc_destroy(struct shim_file *sf)
{
	struct shim_gpc_unmaps u = { .nr = 0 };
	struct shim_gpc *gpc, *tmp;

	write_lock(&sf->gpc_lock);
	list_for_each_entry_safe(gpc, tmp, &sf->gpcs, node) {
		__shim_gpc_clear(gpc, &u);
		list_del(&gpc->node);
		kfree(gpc);
	}
	sf->nr_gpcs = 0;
	write_unlock(&sf->gpc_lock);
	shim_gpc_unmap(&u);
}

static struct shim_gpc *__shim_gpc_find(struct shim_file *sf, pgoff_t index)
{
	struct shim_gpc *gpc;

	list_for_each_entry(gpc, &sf->gpcs, node)
		if (gpc->index == index)
			return gpc;
	return NULL;
}

/* The entry for @index, created if there is room. */
static struct shim_gpc *shim_gpc_lookup(struct shim_file *sf, pgoff_t index)
{
	struct shim_gpc *gpc, *new;

	read_lock(&sf->gpc_lock);
	gpc = __shim_gpc_find(sf, index);
	read_unlock(&sf->gpc_lock);
	if (gpc)
		return gpc;

	new = kzalloc(sizeof(*new), GFP_KERNEL);
	if (!new)
		return ERR_PTR(-ENOMEM);
	new->index = index;
	write_lock(&sf->gpc_lock);
	gpc = __shim_gpc_find(sf, index);
	if (!gpc && sf->nr_gpcs < SHIM_GPC_MAX) {
		list_add(&new->node, &sf->gpcs);
		sf->nr_gpcs++;
		gpc = new;
		new = NULL;
	}
	write_unlock(&sf->gpc_lock);
	kfree(new);
	return gpc ?: ERR_PTR(-ENOSPC);
}

/*
 * Map the page again.  The invalidate lock keeps punch and conversion out
 * between finding the folio and publishing it in the entry.
 */
static int shim_gpc_refresh_secret(struct shim_file *sf, struct shim_gpc *gpc)
{
	struct shim_gpc_unmaps u = { .nr = 0 };
	long pfn = shim_secret_get(sf, gpc->index, true);
	void *kaddr;

	if (pfn <= 0)
		return pfn ?: -EIO;	/* 0: a hole, which alloc rules out */
	/* invalidate_lock held shared: the page stays the file's meanwhile. */
	kaddr = memremap(PFN_PHYS(pfn), PAGE_SIZE, MEMREMAP_WB);
	if (kaddr) {
		write_lock(&sf->gpc_lock);
		__shim_gpc_clear(gpc, &u);
		gpc->khva = kaddr;
		gpc->own_map = true;
		gpc->valid = true;
		write_unlock(&sf->gpc_lock);
	}
	filemap_invalidate_unlock_shared(sf->inode->i_mapping);
	shim_gpc_unmap(&u);
	return kaddr ? 0 : -ENOMEM;
}

static int shim_gpc_refresh(struct shim_file *sf, struct shim_gpc *gpc)
{
	struct address_space *mapping = sf->inode->i_mapping;
	struct shim_gpc_unmaps u = { .nr = 0 };
	struct folio *folio;
	int err = 0;

	if (shim_is_secret(sf))
		return shim_gpc_refresh_secret(sf, gpc);
	folio = shim_folio_get(sf, gpc->index, true);
	if (IS_ERR(folio))
		return PTR_ERR(folio);
	/* Lock order: invalidate_lock before the folio lock. */
	folio_unlock(folio);
	filemap_invalidate_lock_shared(mapping);
	/*
	 * Punch, truncate and conversion run under the lock held exclusive:
	 * if the folio is still in the file now, it stays until we unlock,
	 * and their invalidation will find the entry published.
	 */
	if (folio->mapping != mapping || shim_range_private(sf, gpc->index)) {
		err = -EAGAIN;
	} else {
		write_lock(&sf->gpc_lock);
		__shim_gpc_clear(gpc, &u);	/* an ordinary file's: no mapping */
		folio_get(folio);
		gpc->folio = folio;
		gpc->khva = page_address(folio_file_page(folio, gpc->index));
		gpc->valid = true;
		write_unlock(&sf->gpc_lock);
	}
	filemap_invalidate_unlock_shared(mapping);
	folio_put(folio);
	return err;
}

long shim_ioctl_cache_read(struct shim_file *sf, void __user *argp)
{
	struct gmemfs_shim_cache_read __user *uargs = argp;
	struct gmemfs_shim_cache_read args;
	unsigned int offset, tries;
	struct shim_gpc *gpc;
	char *bounce;
	u32 flags = GMEMFS_SHIM_CACHE_HIT;
	int err;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	offset = offset_in_page(args.offset);
	if (args.reserved || args.flags || !args.size ||
	    offset + args.size > PAGE_SIZE)
		return -EINVAL;
	gpc = shim_gpc_lookup(sf, args.offset >> PAGE_SHIFT);
	if (IS_ERR(gpc))
		return PTR_ERR(gpc);
	bounce = kmalloc(args.size, GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;

	for (tries = 0; ; tries++) {
		read_lock(&sf->gpc_lock);
		if (gpc->valid) {
			memcpy(bounce, gpc->khva + offset, args.size);
			read_unlock(&sf->gpc_lock);
			break;
		}
		read_unlock(&sf->gpc_lock);
		flags = 0;
		err = shim_gpc_refresh(sf, gpc);
		if (err && (err != -EAGAIN || tries > 3))
			goto out;
	}
	err = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(args.buf), bounce, args.size) ||
	    put_user(flags, &uargs->flags))
		goto out;
	err = 0;
out:
	kfree(bounce);
	return err;
}
