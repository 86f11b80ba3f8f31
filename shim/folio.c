// SPDX-License-Identifier: GPL-2.0
/*
 * The one way to a page of a shim file, for user faults, read/write, the
 * pfncache and the daemon's POPULATE: look in the page cache; on a miss
 * allocate (auto mode) or ask the daemon and wait (ask mode).  A present,
 * shared page never involves the daemon: that is the fast path.
 *
 * Lookups and insertions hold mapping->invalidate_lock shared; punch hole,
 * truncate and conversion hold it exclusive, so none of them sees a page
 * appear in a range it is clearing.  The lock is dropped while waiting for
 * the daemon, so a slow daemon never blocks a punch.
 *
 * Not for: the netlink side of a fault (daemon.c).
 */
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pagemap.h>

#include "shim.h"

/* A daemon that answers "done" without populating gets this many tries. */
#define SHIM_ASK_TRIES	3

/*
 * 6.3 made __filemap_get_folio() return ERR_PTR(-ENOENT) instead of NULL;
 * callers here want NULL for "not cached".
 */
static struct folio *shim_filemap_lock_folio(struct address_space *mapping,
					     pgoff_t index)
{
	struct folio *folio = filemap_lock_folio(mapping, index);

	return IS_ERR(folio) ? NULL : folio;
}

/* Locked folio, NULL if missing, or ERR_PTR.  invalidate_lock held. */
static struct folio *__shim_folio_lookup(struct shim_file *sf, pgoff_t index)
{
	struct inode *inode = sf->inode;

	if (index >= DIV_ROUND_UP(i_size_read(inode), PAGE_SIZE))
		return ERR_PTR(-EINVAL);
	if (shim_range_private(sf, index))
		return ERR_PTR(-EACCES);
	return shim_filemap_lock_folio(inode->i_mapping, index);
}

/*
 * The order a miss at @index allocates: the daemon's for its range, unless
 * the aligned block reaches past the end or already holds a page (then
 * base pages fill it).
 */
u32 shim_alloc_order(struct shim_file *sf, pgoff_t index)
{
	u32 order = shim_order_at(sf, index);
	pgoff_t first = round_down(index, 1UL << order);
	loff_t start = (loff_t)first << PAGE_SHIFT;

	if (!order)
		return 0;
	if (start + (PAGE_SIZE << order) > i_size_read(sf->inode))
		return 0;
	if (shim_is_secret(sf))
		return shim_secret_has_page(sf, first, first + (1UL << order) - 1) ?
		       0 : order;
	if (filemap_range_has_page(sf->inode->i_mapping, start,
				   start + (PAGE_SIZE << order) - 1))
		return 0;
	return order;
}

/*
 * Charge a folio of @order at @index to the page limit (limit.c), or a
 * base page when the large one does not fit and @small_ok, as tmpfs falls
 * back from a huge page.  The order charged, or -ENOSPC.
 */
int shim_folio_charge(struct shim_file *sf, pgoff_t index, u32 order,
		      bool small_ok)
{
	if (!shim_pages_charge(sf->owner, 1UL << order))
		return order;
	if (order && small_ok && !shim_pages_charge(sf->owner, 1))
		return 0;
	pr_info_ratelimited("gmemfs: file %u: page %lu refused: the daemon's page limit is reached\n",
			    sf->id, index);
	return -ENOSPC;
}

/* Whether a page of [@index, @index + @nr) is private.  invalidate_lock held. */
static bool shim_private_in(struct shim_file *sf, pgoff_t index,
			    unsigned long nr)
{
	unsigned long first = index;

	return xa_find(&sf->private, &first, index + nr - 1, XA_PRESENT);
}

/* The order to place at @index; -EEXIST if its block filled meanwhile. */
int shim_fit_order(struct shim_file *sf, pgoff_t index, size_t len,
		   enum shim_fit fit)
{
	u32 order = shim_alloc_order(sf, index);

	if (fit == SHIM_FIT_MISS)
		return order;
	if (fit == SHIM_FIT_PAGE && len > PAGE_SIZE << order)
		return -EEXIST;
	if (index & ((1UL << order) - 1))
		return 0;
	/* The range's walk must reach a private page, to stop there. */
	if (fit == SHIM_FIT_RANGE && (len < PAGE_SIZE << order ||
				      shim_private_in(sf, index, 1UL << order)))
		return 0;
	return order;
}

/* Without highmem a folio is contiguous in the direct map. */
static void shim_folio_fill(struct folio *folio, const void *data, size_t len)
{
	void *kaddr = folio_address(folio);

	len = min(len, folio_size(folio));
	memcpy(kaddr, data, len);
	memset(kaddr + len, 0, folio_size(folio) - len);
}

/*
 * A new locked folio in the page cache, holding @data (the rest zero), as
 * @fit allows.  -EEXIST if someone got there first, -ENOSPC past the page
 * limit.  invalidate_lock held.
 */
static struct folio *__shim_folio_alloc(struct shim_file *sf, pgoff_t index,
					const void *data, size_t len,
					enum shim_fit fit)
{
	struct address_space *mapping = sf->inode->i_mapping;
	bool small_ok = len <= PAGE_SIZE || fit == SHIM_FIT_RANGE;
	gfp_t gfp = mapping_gfp_mask(mapping);
	struct folio *folio;
	int order, err;

	order = shim_fit_order(sf, index, len, fit);
	if (order < 0)
		return ERR_PTR(order);
again:
	err = shim_folio_charge(sf, index, order, small_ok);
	if (err < 0)
		return ERR_PTR(err);
	order = err;
	folio = folio_alloc(gfp | (data ? 0 : __GFP_ZERO), order);
	if (!folio) {
		shim_pages_uncharge(sf->owner, 1UL << order);
		return ERR_PTR(-ENOMEM);
	}
	folio->private = sf->owner;	/* for ->free_folio's uncharge */
	if (data)
		shim_folio_fill(folio, data, len);
	__folio_mark_uptodate(folio);
	err = filemap_add_folio(mapping, folio, round_down(index, 1UL << order),
				gfp);
	if (err) {
		/* Never in the page cache: ->free_folio will not uncharge it. */
		folio->private = NULL;
		folio_put(folio);
		shim_pages_uncharge(sf->owner, 1UL << order);
		/* A page raced into the block: base pages, unless data is bigger. */
		if (err == -EEXIST && order && small_ok) {
			order = 0;
			goto again;
		}
		return ERR_PTR(err);
	}
	/* Dirty: there is no backing store to read it back from. */
	folio_mark_dirty(folio);
	/* st_blocks says how much memory the file holds. */
	inode_add_bytes(sf->inode, folio_size(folio));
	/* A failure remembered for a retried fault is stale now. */
	xa_erase(&sf->ask_failed, index);
	return folio;
}

int shim_folio_ask(struct shim_file *sf, pgoff_t index)
{
	u32 order = shim_alloc_order(sf, index);
	pgoff_t first = round_down(index, 1UL << order);
	struct shim_req *req;
	int err;

	/* Switched to auto since the miss: the retry allocates. */
	if (READ_ONCE(sf->mode) == GMEMFS_SHIM_FAULT_AUTO)
		return 0;
	req = shim_req_submit(GMEMFS_SHIM_EV_FAULT, sf->id,
			      (u64)first << PAGE_SHIFT, PAGE_SIZE << order, 0);
	if (IS_ERR(req))
		return PTR_ERR(req);
	err = shim_req_wait(req);
	shim_req_put(req);
	return err;
}

/*
 * Lookup, and allocation in auto @mode (the file's, read once by the
 * caller); never asks the daemon.  NULL for a miss in ask mode, or a hole
 * in auto mode when !@alloc.
 */
static struct folio *shim_folio_try(struct shim_file *sf, pgoff_t index,
				    u32 mode, bool alloc)
{
	struct address_space *mapping = sf->inode->i_mapping;
	struct folio *folio;

	do {
		filemap_invalidate_lock_shared(mapping);
		folio = __shim_folio_lookup(sf, index);
		if (!folio && mode == GMEMFS_SHIM_FAULT_AUTO && alloc) {
			folio = __shim_folio_alloc(sf, index, NULL, 0, SHIM_FIT_MISS);
			if (!IS_ERR(folio))
				shim_report(sf, GMEMFS_SHIM_EV_ALLOC,
					    folio_pos(folio), folio_size(folio),
					    folio_nr_pages(folio), 0);
		}
		filemap_invalidate_unlock_shared(mapping);
	} while (folio == ERR_PTR(-EEXIST));	/* lost a race with a fault */
	return folio;
}

/*
 * The locked, referenced folio holding @index.  NULL only for a hole in
 * an auto-mode file when !@alloc (a read: zeroes, nothing allocated).
 */
struct folio *shim_folio_get(struct shim_file *sf, pgoff_t index, bool alloc)
{
	struct folio *folio;
	int tries, err;
	u32 mode;

	for (tries = 0; tries < SHIM_ASK_TRIES; tries++) {
		mode = READ_ONCE(sf->mode);
		folio = shim_folio_try(sf, index, mode, alloc);
		if (folio || mode == GMEMFS_SHIM_FAULT_AUTO)
			return folio;
		err = shim_folio_ask(sf, index);
		if (err)
			return ERR_PTR(err);
	}
	pr_warn_ratelimited("gmemfs: file %u: daemon answered the fault at page %lu but never populated it\n",
			    sf->id, index);
	return ERR_PTR(-EIO);
}

/* The daemon's POPULATE of one page: data (or zeroes) for a missing page. */
int shim_folio_populate(struct shim_file *sf, pgoff_t index,
			const void *data, size_t len)
{
	struct address_space *mapping = sf->inode->i_mapping;
	struct folio *folio;

	if (shim_is_secret(sf))
		return shim_secret_populate(sf, index, data, len);

	filemap_invalidate_lock_shared(mapping);
	folio = __shim_folio_lookup(sf, index);
	if (folio && !IS_ERR(folio)) {
		folio_unlock(folio);
		folio_put(folio);
		folio = ERR_PTR(-EEXIST);
	} else if (!folio) {
		folio = __shim_folio_alloc(sf, index, data, len, SHIM_FIT_PAGE);
	}
	filemap_invalidate_unlock_shared(mapping);
	if (IS_ERR(folio))
		return PTR_ERR(folio);
	folio_unlock(folio);
	folio_put(folio);
	return 0;
}

/*
 * One step of a multi-page POPULATE at @index, with @nr pages of @data
 * (NULL: zeroes) left: the pages it covered, placed (*@placed set) or
 * already there, or -errno.  invalidate_lock held.
 */
static long __shim_populate_step(struct shim_file *sf, pgoff_t index,
				 unsigned long nr, const void *data,
				 bool *placed)
{
	struct folio *folio = __shim_folio_lookup(sf, index);
	unsigned long n;

	if (IS_ERR(folio))
		return PTR_ERR(folio);
	if (!folio) {
		folio = __shim_folio_alloc(sf, index, data, nr << PAGE_SHIFT,
					   SHIM_FIT_RANGE);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		*placed = true;
	}
	/* A folio found may have begun before @index. */
	n = min(folio->index + folio_nr_pages(folio) - index, nr);
	folio_unlock(folio);
	folio_put(folio);
	return n;
}

/*
 * The daemon's POPULATE of @nr pages from @index, each missing one from
 * its own bytes of @data (NULL: zeroes); pages already there stay.  0 if
 * any page was placed, -EEXIST if none was missing.  A private page
 * (-EACCES) or an allocation failure stops it; pages placed before stay.
 * The lock is taken per step so that a punch waits for one folio at most.
 */
int shim_folio_populate_range(struct shim_file *sf, pgoff_t index,
			      const void *data, unsigned long nr)
{
	struct address_space *mapping = sf->inode->i_mapping;
	unsigned long done = 0;
	bool placed = false;
	long n;

	while (done < nr) {
		const void *from = data ? data + (done << PAGE_SHIFT) : NULL;

		filemap_invalidate_lock_shared(mapping);
		if (shim_is_secret(sf))
			n = shim_secret_populate_step(sf, index + done,
						      nr - done, from, &placed);
		else
			n = __shim_populate_step(sf, index + done, nr - done,
						 from, &placed);
		filemap_invalidate_unlock_shared(mapping);
		if (n == -EEXIST)
			continue;	/* a fault placed it meanwhile: look again */
		if (n < 0)
			return n;
		done += n;
		cond_resched();
	}
	return placed ? 0 : -EEXIST;
}

/*
 * Drop [start, end) from the page cache (a secret file: its pages) and
 * from every user mapping, the pfncache first.  invalidate_lock held exclusive, so nothing refills the
 * range meanwhile.  Returns the base pages freed.
 */
long shim_range_drop(struct shim_file *sf, loff_t start, loff_t end)
{
	struct address_space *mapping = sf->inode->i_mapping;
	unsigned long before = mapping->nrpages, gone;

	lockdep_assert_held_write(&mapping->invalidate_lock);
	shim_gpc_invalidate(sf, start, end);
	unmap_mapping_range(mapping, start, end - start, 0);
	if (shim_is_secret(sf))
		return shim_secret_drop(sf, start >> PAGE_SHIFT,
					(end - 1) >> PAGE_SHIFT);
	truncate_inode_pages_range(mapping, start, end - 1);
	gone = before - mapping->nrpages;
	inode_sub_bytes(sf->inode, (loff_t)gone << PAGE_SHIFT);
	return gone;
}

/*
 * The daemon's SET_ORDER: folios of 2^order pages for misses in
 * [offset, offset + len), both 2M-aligned.  Pages already there stay.
 */
int shim_set_order(struct shim_file *sf, loff_t offset, loff_t len, u32 order)
{
	struct address_space *mapping = sf->inode->i_mapping;
	unsigned long block, first = offset >> (SHIM_MAX_ORDER + PAGE_SHIFT);
	unsigned long end = (offset + len) >> (SHIM_MAX_ORDER + PAGE_SHIFT);
	int err = 0;

	filemap_invalidate_lock(mapping);
	for (block = first; block < end && !err; block++)
		err = xa_err(xa_store(&sf->orders, block, xa_mk_value(order + 1),
				      GFP_KERNEL));
	filemap_invalidate_unlock(mapping);
	return err;
}

/*
 * An ask-mode miss (ordinary and secret files).  Whoever answers may need
 * this mm (a thread of the faulting process serving its faults, or only
 * malloc()ing), so the first try waits with mmap_lock dropped and has the
 * fault retried, as userfaultfd does: VM_FAULT_RETRY.  A failure is
 * remembered for the retry, which then ends in SIGBUS instead of asking
 * again.  0: the fault may not drop the lock, so the caller waits holding
 * it (its lookup with alloc), still bounded.
 */
vm_fault_t shim_fault_ask_retry(struct vm_fault *vmf, struct shim_file *sf)
{
	pgoff_t index = vmf->pgoff;
	struct file *file;
	int err;

	if ((vmf->flags & FAULT_FLAG_TRIED) && xa_erase(&sf->ask_failed, index))
		return VM_FAULT_SIGBUS;
	if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY) ||
	    (vmf->flags & FAULT_FLAG_RETRY_NOWAIT))
		return 0;
	file = get_file(vmf->vma->vm_file);	/* the VMA may go */
	shim_fault_unlock(vmf);
	err = shim_folio_ask(sf, index);
	/* Without memory to remember it, the retry asks again. */
	if (err)
		xa_store(&sf->ask_failed, index, xa_mk_value(-err), GFP_KERNEL);
	fput(file);
	return VM_FAULT_RETRY;
}

static vm_fault_t shim_fault_ask(struct vm_fault *vmf, struct shim_file *sf)
{
	vm_fault_t ret = shim_fault_ask_retry(vmf, sf);
	struct folio *folio;

	if (ret)
		return ret;
	folio = shim_folio_get(sf, vmf->pgoff, true);
	if (IS_ERR(folio))
		return VM_FAULT_SIGBUS;
	vmf->page = folio_file_page(folio, vmf->pgoff);
	return VM_FAULT_LOCKED;
}

static vm_fault_t shim_fault(struct vm_fault *vmf)
{
	struct shim_file *sf = shim_file_of(file_inode(vmf->vma->vm_file));
	struct folio *folio;

	folio = shim_folio_try(sf, vmf->pgoff, READ_ONCE(sf->mode), true);
	if (!folio)
		return shim_fault_ask(vmf, sf);
	if (IS_ERR(folio))
		return PTR_ERR(folio) == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
	/* Locked until the PTE is in: a conversion waits on this lock. */
	vmf->page = folio_file_page(folio, vmf->pgoff);
	return VM_FAULT_LOCKED;
}

/*
 * Fault-around maps cached neighbours of a faulting page without calling
 * shim_fault(), so it runs only over ranges with no private page, checked
 * under invalidate_lock: conversion holds it exclusive while it changes
 * the state and unmaps, and punch and truncate do too.  If the lock is
 * contended there is no fault-around this time; ->fault does the work.
 */
static vm_fault_t shim_map_pages(struct vm_fault *vmf, pgoff_t start,
				 pgoff_t end)
{
	struct shim_file *sf = shim_file_of(file_inode(vmf->vma->vm_file));
	struct address_space *mapping = sf->inode->i_mapping;
	unsigned long index = start;
	vm_fault_t ret = 0;

	if (!down_read_trylock(&mapping->invalidate_lock))
		return 0;
	if (!xa_find(&sf->private, &index, end, XA_PRESENT))
		ret = filemap_map_pages(vmf, start, end);
	up_read(&mapping->invalidate_lock);
	return ret;
}

const struct vm_operations_struct shim_vm_ops = {
	.fault		= shim_fault,
	.map_pages	= shim_map_pages,
};

/* Pages may be pinned by the pfncache's kernel mappings: never moved. */
static int shim_migrate_folio(struct address_space *mapping,
			      struct folio *dst, struct folio *src,
			      enum migrate_mode mode)
{
	return -EBUSY;
}

/*
 * Every way out of the page cache passes here: the one uncharge, to the
 * budget the allocation named (the owner outlives its file's pages).
 */
static void shim_free_folio(struct folio *folio)
{
	struct shim_owner *o = folio->private;

	folio->private = NULL;
	shim_pages_uncharge(o, folio_nr_pages(folio));
}

const struct address_space_operations shim_aops = {
	.dirty_folio		= noop_dirty_folio,
	.free_folio		= shim_free_folio,
	.migrate_folio		= shim_migrate_folio,
	SHIM_AOPS_ERROR_REMOVE,
};
