// SPDX-License-Identifier: GPL-2.0
/*
 * read(), write(), fallocate() and truncate of a shim file.  read and
 * write go through the same page path as faults (folio.c), so they see
 * only shared ranges and, in ask mode, wait for the daemon like a fault.
 * A shim file's size is set at creation and by truncate: writes never
 * extend it (ENOSPC past the end) and fallocate never grows it.
 *
 * Not for: mappings (folio.c), conversion (attr.c).
 */
#include "shim.h"

#include <linux/falloc.h>
#include <linux/slab.h>
#include <linux/uio.h>

/* An ordinary file's page: @n bytes at @pos; the bytes copied, or -errno. */
static ssize_t shim_rw_folio(struct shim_file *sf, loff_t pos, size_t n,
			     struct iov_iter *iter, bool write)
{
	struct folio *folio = shim_folio_get(sf, pos >> PAGE_SHIFT, write);
	size_t offset = offset_in_page(pos), copied;
	struct page *page;

	if (IS_ERR(folio))
		return PTR_ERR(folio);
	if (!folio)
		return iov_iter_zero(n, iter);	/* auto-mode hole */
	page = folio_file_page(folio, pos >> PAGE_SHIFT);
	/*
	 * Unlocked for the copy: the user buffer may be a mapping of this
	 * very file, whose fault takes the lock.
	 */
	folio_unlock(folio);
	copied = write ? copy_page_from_iter(page, offset, n, iter) :
			 copy_page_to_iter(page, offset, n, iter);
	folio_put(folio);
	return copied;
}

/* One page's part of a read or write: bytes copied, or -errno if none. */
static ssize_t shim_rw_page(struct shim_file *sf, loff_t pos, size_t n,
			    struct iov_iter *iter, bool write, void *bounce)
{
	size_t copied;
	int err = 0;

	if (!shim_is_secret(sf))
		return shim_rw_folio(sf, pos, n, iter, write);
	copied = shim_secret_copy(sf, pos, n, iter, write, bounce, &err);
	return copied || !err ? copied : err;
}

/* Copy between @iter and the pages at ki_pos; alloc: a write fills holes. */
static ssize_t shim_rw_iter(struct kiocb *iocb, struct iov_iter *iter,
			    bool write)
{
	struct shim_file *sf = shim_file_of(file_inode(iocb->ki_filp));
	loff_t pos = iocb->ki_pos, size;
	void *bounce = NULL;
	ssize_t done = 0, copied;
	int err = 0;
	size_t n;

	/* A secret page's bytes pass through here, never the direct map. */
	if (shim_is_secret(sf)) {
		bounce = kmalloc(PAGE_SIZE, GFP_KERNEL);
		if (!bounce)
			return -ENOMEM;
	}
	while (iov_iter_count(iter)) {
		size = i_size_read(sf->inode);
		if (pos >= size) {
			err = write ? -ENOSPC : 0;
			break;
		}
		n = min3((size_t)(PAGE_SIZE - offset_in_page(pos)),
			 iov_iter_count(iter), (size_t)(size - pos));
		copied = shim_rw_page(sf, pos, n, iter, write, bounce);
		if (copied < 0) {
			err = copied;
			break;
		}
		pos += copied;
		done += copied;
		if (copied < n) {
			err = -EFAULT;
			break;
		}
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		cond_resched();
	}
	kfree_sensitive(bounce);
	iocb->ki_pos = pos;
	return done ? done : err;
}

ssize_t shim_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	return shim_rw_iter(iocb, to, false);
}

ssize_t shim_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	if (iocb->ki_flags & IOCB_APPEND)
		return -EINVAL;	/* the size is fixed; appending has no meaning */
	return shim_rw_iter(iocb, from, true);
}

static long shim_punch(struct shim_file *sf, loff_t offset, loff_t len)
{
	struct address_space *mapping = sf->inode->i_mapping;
	long pages;

	filemap_invalidate_lock(mapping);
	pages = shim_range_drop(sf, offset, offset + len);
	filemap_invalidate_unlock(mapping);
	shim_report(sf, GMEMFS_SHIM_EV_INVALIDATE, offset, len, pages, 0);
	return 0;
}

/* A secret file's pages, allocated (or asked for) one by one. */
static long shim_populate_secret(struct shim_file *sf, pgoff_t index,
				 pgoff_t end)
{
	long pfn;

	for (; index < end; index++) {
		pfn = shim_secret_get(sf, index, true);
		if (pfn < 0)
			return pfn;
		filemap_invalidate_unlock_shared(sf->inode->i_mapping);
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

static long shim_populate(struct shim_file *sf, loff_t offset, loff_t len)
{
	pgoff_t index, end = (offset + len) >> PAGE_SHIFT;
	struct folio *folio;

	if (shim_is_secret(sf))
		return shim_populate_secret(sf, offset >> PAGE_SHIFT, end);
	for (index = offset >> PAGE_SHIFT; index < end; ) {
		folio = shim_folio_get(sf, index, true);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		index = folio->index + folio_nr_pages(folio);
		folio_unlock(folio);
		folio_put(folio);
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

long shim_fallocate(struct file *file, int mode, loff_t offset, loff_t len)
{
	struct shim_file *sf = shim_file_of(file_inode(file));
	loff_t align = shim_folio_bytes(sf);

	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if ((offset | len) & (align - 1) ||
	    offset + len > i_size_read(sf->inode)) {
		pr_info_ratelimited("gmemfs: file %u: fallocate mode %#x of [%lld, +%lld) refused: not aligned to %lld bytes or past the end\n",
				    sf->id, mode, offset, len, align);
		return -EINVAL;
	}
	if (mode & FALLOC_FL_PUNCH_HOLE)
		return shim_punch(sf, offset, len);
	return shim_populate(sf, offset, len);
}

static int shim_resize(struct shim_file *sf, loff_t size)
{
	struct address_space *mapping = sf->inode->i_mapping;
	loff_t old = i_size_read(sf->inode);
	long pages = 0;

	if (size & (shim_folio_bytes(sf) - 1)) {
		pr_info_ratelimited("gmemfs: file %u: truncate to %lld refused: not a multiple of the page size\n",
				    sf->id, size);
		return -EINVAL;
	}
	filemap_invalidate_lock(mapping);
	/* The size first, so no new fault lands past the end meanwhile. */
	i_size_write(sf->inode, size);
	if (size < old) {
		pages = shim_range_drop(sf, size, old);
		shim_attr_clear(sf, size >> PAGE_SHIFT, (old - size) >> PAGE_SHIFT);
	}
	filemap_invalidate_unlock(mapping);
	if (size < old)
		shim_report(sf, GMEMFS_SHIM_EV_INVALIDATE, size, old - size,
			    pages, GMEMFS_SHIM_INVAL_TRUNCATE);
	return 0;
}

int shim_setattr(shim_idmap_t *idmap, struct dentry *dentry,
		 struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	int err;

	err = setattr_prepare(idmap, dentry, attr);
	if (err)
		return err;
	if (attr->ia_valid & ATTR_SIZE) {
		err = shim_resize(shim_file_of(inode), attr->ia_size);
		if (err)
			return err;
	}
	setattr_copy(idmap, inode, attr);
	return 0;
}
