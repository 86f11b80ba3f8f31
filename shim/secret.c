// SPDX-License-Identifier: GPL-2.0
/*
 * Secret files: shim files whose every page comes from the carve-out
 * (carve.c), memory the kernel's direct map does not cover.  Such a page
 * is no page cache folio (the page allocator never had it), so the file
 * keeps index -> pfn itself (shim_file.pfns) and maps it to userspace as a
 * PFN (VM_PFNMAP, vmf_insert_pfn()).  Where the module must read or write
 * a page (read/write, POPULATE's data) it does so through a temporary
 * mapping of just that page, dropped before it returns; user buffers are
 * copied through a bounce page outside the file's locks.
 *
 * The rules are those of folio.c: lookups and insertions hold
 * invalidate_lock shared, punch, truncate and conversion hold it
 * exclusive.  A fault inserts its PTE before it drops the lock, so a
 * conversion or punch that follows finds the PTE to zap (there is no folio
 * lock to wait on).  Allocations of one file are serialized by its
 * secret_lock, which makes "is the page there" and "publish it" one step;
 * a run is published only once all of its slots are reserved, so a
 * failure publishes nothing.
 *
 * Not for: the pool itself (carve.c), ordinary files (folio.c).
 */
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "shim.h"

/* A daemon that answers "done" without populating gets this many tries. */
#define SHIM_SECRET_ASK_TRIES	3

/* The pfn of page @index, 0 if the file holds none there. */
static unsigned long shim_secret_pfn(struct shim_file *sf, pgoff_t index)
{
	void *entry = xa_load(&sf->pfns, index);

	return entry ? xa_to_value(entry) : 0;
}

bool shim_secret_has_page(struct shim_file *sf, pgoff_t first, pgoff_t last)
{
	unsigned long index = first;

	return xa_find(&sf->pfns, &index, last, XA_PRESENT);
}

/* -EINVAL past the end, -EACCES if private, else 0.  invalidate_lock held. */
static int shim_secret_check(struct shim_file *sf, pgoff_t index)
{
	if (index >= DIV_ROUND_UP(i_size_read(sf->inode), PAGE_SIZE))
		return -EINVAL;
	if (shim_range_private(sf, index))
		return -EACCES;
	return 0;
}

/* @data into a new run (zero already), through a mapping of its own. */
static int shim_secret_fill(unsigned long pfn, unsigned long nr,
			    const void *data, size_t len)
{
	void *kaddr;

	if (!data)
		return 0;
	kaddr = memremap(PFN_PHYS(pfn), nr << PAGE_SHIFT, MEMREMAP_WB);
	if (!kaddr)
		return -ENOMEM;
	memcpy(kaddr, data, min(len, nr << PAGE_SHIFT));
	memunmap(kaddr);
	return 0;
}

/* The run in the file at @first: nothing visible unless all of it is. */
static int shim_secret_publish(struct shim_file *sf, pgoff_t first,
			       unsigned long pfn, unsigned long nr)
{
	unsigned long i;
	int err;

	for (i = 0; i < nr; i++) {
		err = xa_reserve(&sf->pfns, first + i, GFP_KERNEL);
		if (err) {
			while (i--)
				xa_release(&sf->pfns, first + i);
			return err;
		}
	}
	/* Into reserved slots: needs no memory, cannot fail. */
	for (i = 0; i < nr; i++)
		xa_store(&sf->pfns, first + i, xa_mk_value(pfn + i), GFP_KERNEL);
	return 0;
}

/*
 * Charge and take a run of 2^*@order pages, or a base page when the large
 * one does not fit (the limit, or no aligned run free) and @small_ok; its
 * first pfn, *@order what was taken; -ENOSPC.
 */
static long shim_secret_take(struct shim_file *sf, pgoff_t index, u32 *order,
			     bool small_ok)
{
	int got = shim_folio_charge(sf, index, *order, small_ok);
	unsigned long pfn;

	if (got < 0)
		return got;
	pfn = shim_carve_alloc(got);
	if (!pfn && got && small_ok) {
		shim_pages_uncharge(sf->owner, (1UL << got) - 1);
		got = 0;
		pfn = shim_carve_alloc(0);
	}
	if (!pfn) {
		shim_pages_uncharge(sf->owner, 1UL << got);
		pr_info_ratelimited("gmemfs: file %u: page %lu refused: the carve-out is full\n",
				    sf->id, index);
		return -ENOSPC;
	}
	*order = got;
	return pfn;
}

/*
 * A new run at @index as @fit allows, holding @data (the rest zero): the
 * pfn of page @index, the run's order in *@order.  -EEXIST if a page got
 * there first, -ENOSPC past the page limit or with the carve-out full.
 * invalidate_lock held shared.
 */
static long __shim_secret_alloc(struct shim_file *sf, pgoff_t index,
				const void *data, size_t len, enum shim_fit fit,
				u32 *order)
{
	bool small_ok = len <= PAGE_SIZE || fit == SHIM_FIT_RANGE;
	long pfn, err = -EEXIST;
	pgoff_t first;
	int fitted;

	mutex_lock(&sf->secret_lock);
	if (shim_secret_pfn(sf, index))
		goto out;
	fitted = shim_fit_order(sf, index, len, fit);
	err = fitted;
	if (fitted < 0)
		goto out;
	*order = fitted;
	pfn = shim_secret_take(sf, index, order, small_ok);
	err = pfn;
	if (pfn < 0)
		goto out;
	first = round_down(index, 1UL << *order);
	err = shim_secret_fill(pfn, 1UL << *order, data, len);
	if (!err)
		err = shim_secret_publish(sf, first, pfn, 1UL << *order);
	if (err) {
		shim_carve_free(pfn, 1UL << *order);
		shim_pages_uncharge(sf->owner, 1UL << *order);
		goto out;
	}
	atomic_long_add(1UL << *order, &sf->secret_pages);
	inode_add_bytes(sf->inode, PAGE_SIZE << *order);
	/* A failure remembered for a retried fault is stale now. */
	xa_erase(&sf->ask_failed, index);
	err = pfn + (index - first);
out:
	mutex_unlock(&sf->secret_lock);
	return err;
}

/*
 * Lookup, and allocation in auto @mode when @alloc: the pfn, 0 for a miss
 * in ask mode or a hole when !@alloc, or -errno.  invalidate_lock held.
 */
static long __shim_secret_try(struct shim_file *sf, pgoff_t index, u32 mode,
			      bool alloc)
{
	long pfn = shim_secret_check(sf, index);
	u32 order;

	if (pfn)
		return pfn;
	pfn = shim_secret_pfn(sf, index);
	if (pfn || mode != GMEMFS_SHIM_FAULT_AUTO || !alloc)
		return pfn;
	pfn = __shim_secret_alloc(sf, index, NULL, 0, SHIM_FIT_MISS, &order);
	if (pfn == -EEXIST)	/* a racing fault placed it: still there */
		return shim_secret_pfn(sf, index);
	if (pfn > 0)
		shim_report(sf, GMEMFS_SHIM_EV_ALLOC,
			    (u64)round_down(index, 1UL << order) << PAGE_SHIFT,
			    PAGE_SIZE << order, 1UL << order, 0);
	return pfn;
}

/*
 * The pfn of page @index, with invalidate_lock held shared so that it
 * stays the file's until the caller drops it; asks the daemon in ask
 * mode.  0 (lock not held) only for a hole in an auto-mode file when
 * !@alloc; -errno (lock not held).
 */
long shim_secret_get(struct shim_file *sf, pgoff_t index, bool alloc)
{
	struct address_space *mapping = sf->inode->i_mapping;
	int tries, err;
	long pfn;
	u32 mode;

	for (tries = 0; tries < SHIM_SECRET_ASK_TRIES; tries++) {
		mode = READ_ONCE(sf->mode);
		filemap_invalidate_lock_shared(mapping);
		pfn = __shim_secret_try(sf, index, mode, alloc);
		if (pfn > 0)
			return pfn;
		filemap_invalidate_unlock_shared(mapping);
		if (pfn < 0 || mode == GMEMFS_SHIM_FAULT_AUTO)
			return pfn;
		err = shim_folio_ask(sf, index);
		if (err)
			return err;
	}
	pr_warn_ratelimited("gmemfs: file %u: daemon answered the fault at page %lu but never populated it\n",
			    sf->id, index);
	return -EIO;
}

/* The daemon's POPULATE of one page: data (or zeroes) for a missing page. */
int shim_secret_populate(struct shim_file *sf, pgoff_t index,
			 const void *data, size_t len)
{
	struct address_space *mapping = sf->inode->i_mapping;
	long err;
	u32 order;

	filemap_invalidate_lock_shared(mapping);
	err = shim_secret_check(sf, index);
	if (!err && shim_secret_pfn(sf, index))
		err = -EEXIST;
	if (!err)
		err = __shim_secret_alloc(sf, index, data, len, SHIM_FIT_PAGE, &order);
	filemap_invalidate_unlock_shared(mapping);
	return err < 0 ? err : 0;
}

/* One step of a multi-page POPULATE (folio.c's loop), as
 * __shim_populate_step()'s; invalidate_lock held shared. */
long shim_secret_populate_step(struct shim_file *sf, pgoff_t index,
			       unsigned long nr, const void *data, bool *placed)
{
	long err = shim_secret_check(sf, index);
	u32 order;

	if (err)
		return err;
	if (shim_secret_pfn(sf, index))
		return 1;
	err = __shim_secret_alloc(sf, index, data, nr << PAGE_SHIFT,
				  SHIM_FIT_RANGE, &order);
	if (err < 0)
		return err;
	*placed = true;
	return 1UL << order;	/* SHIM_FIT_RANGE: a run starting at @index */
}

/*
 * @n bytes (within one page) between @iter and the file at @pos, through
 * @bounce (a page): the user buffer may be a mapping of this very file,
 * whose fault takes invalidate_lock, so no user copy runs under it.  The
 * bytes copied; *@err says why when fewer than @n.
 */
size_t shim_secret_copy(struct shim_file *sf, loff_t pos, size_t n,
			struct iov_iter *iter, bool write, void *bounce,
			int *err)
{
	size_t off = offset_in_page(pos);
	void *kaddr;
	long pfn;

	if (write && copy_from_iter(bounce, n, iter) != n) {
		*err = -EFAULT;
		return 0;	/* the caller stops; the iter's position is moot */
	}
	pfn = shim_secret_get(sf, pos >> PAGE_SHIFT, write);
	if (!pfn)
		return iov_iter_zero(n, iter);	/* auto-mode hole */
	*err = pfn < 0 ? pfn : -ENOMEM;
	if (pfn < 0)
		return 0;
	kaddr = memremap(PFN_PHYS(pfn), PAGE_SIZE, MEMREMAP_WB);
	if (kaddr) {
		if (write)
			memcpy(kaddr + off, bounce, n);
		else
			memcpy(bounce, kaddr + off, n);
		memunmap(kaddr);
		*err = 0;
	}
	filemap_invalidate_unlock_shared(sf->inode->i_mapping);
	if (!kaddr)
		return 0;
	return write ? n : copy_to_iter(bounce, n, iter);
}

/*
 * Give back pages [@first, @last] to the carve-out (zeroed there) and
 * uncharge them; the base pages freed.  invalidate_lock held exclusive,
 * user mappings and the pfncache already cleared (or, at eviction,
 * nothing left to hold them).  Contiguous pfns go back as one run.
 */
long shim_secret_drop(struct shim_file *sf, pgoff_t first, pgoff_t last)
{
	unsigned long index, run = 0, nr = 0, gone = 0, pfn;
	void *entry;

	xa_for_each_range(&sf->pfns, index, entry, first, last) {
		pfn = xa_to_value(entry);
		xa_erase(&sf->pfns, index);
		gone++;
		if (nr && pfn == run + nr) {
			nr++;
			continue;
		}
		if (nr)
			shim_carve_free(run, nr);
		run = pfn;
		nr = 1;
		cond_resched();
	}
	if (nr)
		shim_carve_free(run, nr);
	shim_pages_uncharge(sf->owner, gone);
	atomic_long_sub(gone, &sf->secret_pages);
	inode_sub_bytes(sf->inode, (loff_t)gone << PAGE_SHIFT);
	return gone;
}

/* The PTE, with the page's WB memtype held meanwhile (carve.c). */
static vm_fault_t shim_secret_insert(struct vm_fault *vmf, unsigned long pfn)
{
	void *wb = shim_carve_wb_get(pfn, 1);
	vm_fault_t ret;

	if (IS_ERR(wb))
		return VM_FAULT_OOM;
	ret = vmf_insert_pfn(vmf->vma, vmf->address & PAGE_MASK, pfn);
	shim_carve_wb_put(wb);
	return ret;
}

/* An ask-mode miss: folio.c's shim_fault_ask_retry(), then the lookup. */
static vm_fault_t shim_secret_fault_ask(struct vm_fault *vmf,
					struct shim_file *sf)
{
	vm_fault_t ret = shim_fault_ask_retry(vmf, sf);
	long pfn;

	if (ret)
		return ret;
	pfn = shim_secret_get(sf, vmf->pgoff, true);
	if (pfn <= 0)
		return VM_FAULT_SIGBUS;
	ret = shim_secret_insert(vmf, pfn);
	filemap_invalidate_unlock_shared(sf->inode->i_mapping);
	return ret;
}

static vm_fault_t shim_secret_fault(struct vm_fault *vmf)
{
	struct shim_file *sf = shim_file_of(file_inode(vmf->vma->vm_file));
	struct address_space *mapping = sf->inode->i_mapping;
	vm_fault_t ret = 0;
	long pfn;

	filemap_invalidate_lock_shared(mapping);
	pfn = __shim_secret_try(sf, vmf->pgoff, READ_ONCE(sf->mode), true);
	if (pfn > 0)
		ret = shim_secret_insert(vmf, pfn);
	filemap_invalidate_unlock_shared(mapping);
	if (pfn > 0)
		return ret;
	if (!pfn)
		return shim_secret_fault_ask(vmf, sf);
	return pfn == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}

/* No fault-around: there is no page cache to map from. */
static const struct vm_operations_struct shim_secret_vm_ops = {
	.fault		= shim_secret_fault,
};

/*
 * PFNs, never pages: no struct page to refcount, no GUP (KVM follows the
 * PTE instead), not in core dumps.
 */
void shim_secret_mmap(struct vm_area_struct *vma)
{
	shim_vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &shim_secret_vm_ops;
}
