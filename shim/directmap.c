// SPDX-License-Identifier: GPL-2.0
/*
 * GMEMFS_SHIM_IOC_DIRECT_MAP: for each base page of a range, whether the
 * file holds it and whether the kernel's direct map covers it, from the
 * kernel's own page tables (lookup_address() of the address the direct
 * map gives, or would give, that page).  The proof that a secret file's
 * memory is outside the direct map, and that an ordinary file's is not,
 * so that the check can fail.  Nothing is dereferenced: the answer comes
 * from the page-table walk alone.
 *
 * Not for: anything on a fast path; it is a test and audit tool.
 */
#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/pgtable.h>

#include "shim.h"

#define SHIM_DM_MAX_PAGES	(1UL << 20)

static u8 shim_dm_of_addr(unsigned long vaddr)
{
	unsigned int level;
	pte_t *pte = lookup_address(vaddr, &level);

	return pte && pte_present(*pte) ? GMEMFS_SHIM_DM_MAPPED :
					  GMEMFS_SHIM_DM_HIDDEN;
}

/* Page @index's state.  invalidate_lock held, so it stays or goes whole. */
static u8 shim_dm_of(struct shim_file *sf, pgoff_t index)
{
	struct folio *folio;
	void *entry;
	u8 state;

	if (shim_is_secret(sf)) {
		entry = xa_load(&sf->pfns, index);
		if (!entry)
			return GMEMFS_SHIM_DM_ABSENT;
		return shim_dm_of_addr((unsigned long)__va(PFN_PHYS(xa_to_value(entry))));
	}
	/* 6.3 made a miss ERR_PTR(-ENOENT) where 6.1 gives NULL. */
	folio = filemap_get_folio(sf->inode->i_mapping, index);
	if (IS_ERR_OR_NULL(folio))
		return GMEMFS_SHIM_DM_ABSENT;
	state = shim_dm_of_addr((unsigned long)page_address(folio_file_page(folio, index)));
	folio_put(folio);
	return state;
}

long shim_ioctl_direct_map(struct shim_file *sf, void __user *argp)
{
	struct gmemfs_shim_direct_map args;
	pgoff_t first, i;
	long err = 0;
	u8 *states;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.reserved || !PAGE_ALIGNED(args.offset) || !args.pages ||
	    args.pages > SHIM_DM_MAX_PAGES ||
	    args.offset > i_size_read(sf->inode) ||
	    args.pages > (i_size_read(sf->inode) - args.offset) >> PAGE_SHIFT) {
		pr_info_ratelimited("gmemfs: file %u: direct-map report of %llu pages at %llu refused: not page aligned, empty, over %lu pages or past the end\n",
				    sf->id, args.pages, args.offset, SHIM_DM_MAX_PAGES);
		return -EINVAL;
	}
	states = kvmalloc(args.pages, GFP_KERNEL);
	if (!states)
		return -ENOMEM;
	first = args.offset >> PAGE_SHIFT;
	filemap_invalidate_lock_shared(sf->inode->i_mapping);
	for (i = 0; i < args.pages; i++) {
		states[i] = shim_dm_of(sf, first + i);
		if (!(i & 511))
			cond_resched();
	}
	filemap_invalidate_unlock_shared(sf->inode->i_mapping);
	if (copy_to_user(u64_to_user_ptr(args.buf), states, args.pages))
		err = -EFAULT;
	kvfree(states);
	return err;
}
