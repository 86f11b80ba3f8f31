// SPDX-License-Identifier: GPL-2.0
/*
 * Private/shared state of a shim file's ranges, and conversion between
 * them.  Userspace may fault, read and write only shared ranges.  A
 * conversion is asked for with an ioctl on the file, forwarded to the
 * daemon as a CONVERT event (with the asking task's uid and pid), and
 * applied only if the daemon approves; the outcome goes back to the daemon
 * as a CONVERT report, so its journal holds what was applied.
 * Pages stay in the page cache across a conversion (in-place conversion);
 * going private takes them out of every user mapping and the pfncache first.
 *
 * The state is one xarray value entry per private base page, as KVM keeps
 * its memory attributes; written under invalidate_lock held exclusive.
 *
 * Not for: the fault path (folio.c).
 */
#include <linux/mm.h>
#include <linux/uaccess.h>

#include "shim.h"

bool shim_range_private(struct shim_file *sf, pgoff_t index)
{
	return xa_load(&sf->private, index) != NULL;
}

static int __shim_attr_set(struct shim_file *sf, pgoff_t first, pgoff_t nr,
			   bool private)
{
	void *entry = private ? xa_mk_value(1) : NULL;
	pgoff_t i;
	int err;

	for (i = first; i < first + nr; i++) {
		err = xa_err(xa_store(&sf->private, i, entry, GFP_KERNEL));
		if (err)
			return err;
		cond_resched();
	}
	return 0;
}

int shim_attr_init(struct shim_file *sf, pgoff_t nr, bool private)
{
	return private ? __shim_attr_set(sf, 0, nr, true) : 0;
}

/* Truncate: pages past the end forget their state.  invalidate_lock held. */
void shim_attr_clear(struct shim_file *sf, pgoff_t first, pgoff_t nr)
{
	/* Erasing needs no memory, so it cannot fail. */
	__shim_attr_set(sf, first, nr, false);
}

/*
 * Take every page of the range out of user page tables.  A fault that
 * looked the page up before the range went private still holds the folio
 * lock until its PTE is in; taking the lock waits for it, and the second
 * unmap removes what it installed.
 */
static void __shim_attr_unmap(struct shim_file *sf, pgoff_t first, pgoff_t nr)
{
	struct address_space *mapping = sf->inode->i_mapping;
	struct folio *folio;
	pgoff_t i;

	unmap_mapping_pages(mapping, first, nr, false);
	/*
	 * A secret file's fault inserts its PTE under invalidate_lock held
	 * shared, which the conversion holds exclusive: nothing in flight.
	 */
	if (shim_is_secret(sf))
		return;
	for (i = first; i < first + nr; i += shim_folio_pages(sf)) {
		folio = filemap_lock_folio(mapping, i);
		if (IS_ERR_OR_NULL(folio))
			continue;
		unmap_mapping_pages(mapping, folio->index,
				    folio_nr_pages(folio), false);
		folio_unlock(folio);
		folio_put(folio);
	}
}

static int shim_attr_convert(struct shim_file *sf, loff_t offset, loff_t size,
			     bool private)
{
	struct address_space *mapping = sf->inode->i_mapping;
	pgoff_t first = offset >> PAGE_SHIFT, nr = size >> PAGE_SHIFT;
	int err;

	filemap_invalidate_lock(mapping);
	err = -EINVAL;
	if (offset + size > i_size_read(sf->inode))
		goto out;	/* truncated while the daemon was deciding */
	if (private)
		shim_gpc_invalidate(sf, offset, offset + size);
	err = __shim_attr_set(sf, first, nr, private);
	if (!err && private)
		__shim_attr_unmap(sf, first, nr);
out:
	filemap_invalidate_unlock(mapping);
	return err;
}

long shim_ioctl_convert(struct shim_file *sf, void __user *argp)
{
	struct gmemfs_shim_convert args;
	bool private;
	struct shim_req *req;
	int err;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.reserved || args.flags & ~GMEMFS_SHIM_CONVERT_PRIVATE ||
	    !args.size || (args.offset | args.size) & (shim_folio_bytes(sf) - 1) ||
	    args.offset + args.size < args.offset ||
	    args.offset + args.size > i_size_read(sf->inode)) {
		pr_info_ratelimited("gmemfs: file %u: conversion of [%llu, +%llu) flags %#x refused: range not page-aligned, outside the file, or bad flags\n",
				    sf->id, args.offset, args.size, args.flags);
		return -EINVAL;
	}
	private = args.flags & GMEMFS_SHIM_CONVERT_PRIVATE;

	req = shim_req_submit(GMEMFS_SHIM_EV_CONVERT, sf->id, args.offset,
			      args.size, args.flags);
	if (IS_ERR(req))
		return PTR_ERR(req);
	err = shim_req_wait(req);
	shim_req_put(req);
	if (err) {
		pr_info_ratelimited("gmemfs: file %u: conversion of [%llu, +%llu) to %s not done: %d\n",
				    sf->id, args.offset, args.size,
				    private ? "private" : "shared", err);
		/* The daemon may approve after the wait gave up (a timeout,
		 * a fatal signal): it must not count on the conversion. */
		shim_report(sf, GMEMFS_SHIM_EV_CONVERT, args.offset, args.size,
			    0, args.flags | GMEMFS_SHIM_CONVERT_FAILED);
		return err;
	}
	err = shim_attr_convert(sf, args.offset, args.size, private);
	/* The daemon journals what was applied, not what it approved. */
	shim_report(sf, GMEMFS_SHIM_EV_CONVERT, args.offset, args.size, 0,
		    args.flags | (err ? GMEMFS_SHIM_CONVERT_FAILED :
				  GMEMFS_SHIM_CONVERT_APPLIED));
	return err;
}
