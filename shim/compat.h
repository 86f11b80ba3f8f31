/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel APIs the shim uses that changed between the oldest kernel it
 * builds for (Debian 12's 6.1) and the newest (7.3), each behind one
 * LINUX_VERSION_CODE guard that names the release that changed it.  The
 * rest of the shim uses the names defined here and has no version checks.
 * Every entry is a change of name or signature only: what the kernel does
 * is the same on both sides of the guard.
 *
 * Not for: features only newer kernels have; the shim does not use them.
 */
#ifndef _GMEMFS_SHIM_COMPAT_H
#define _GMEMFS_SHIM_COMPAT_H

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/version.h>

/* 6.3 passes a struct mnt_idmap to ->setattr where 6.1 passes a userns. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
typedef struct mnt_idmap shim_idmap_t;
#else
typedef struct user_namespace shim_idmap_t;
#endif

/* 6.3 made vm_flags read-only outside vm_flags_set(). */
static inline void shim_vm_flags_set(struct vm_area_struct *vma,
				     vm_flags_t flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

/*
 * 6.4 added per-VMA locks: a fault may hold the VMA's lock instead of
 * mmap_lock, and must drop whichever it holds (release_fault_lock()).
 */
static inline void shim_fault_unlock(struct vm_fault *vmf)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	if (vmf->flags & FAULT_FLAG_VMA_LOCK) {
		vma_end_read(vmf->vma);
		return;
	}
#endif
	mmap_read_unlock(vmf->vma->vm_mm);
}

/*
 * 6.8 turned ->error_remove_page(mapping, page) into
 * ->error_remove_folio(mapping, folio), and generic_error_remove_page()
 * into generic_error_remove_folio(); both truncate the poisoned folio out
 * of the page cache.  An initializer for struct address_space_operations.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
#define SHIM_AOPS_ERROR_REMOVE	.error_remove_folio = generic_error_remove_folio
#else
#define SHIM_AOPS_ERROR_REMOVE	.error_remove_page = generic_error_remove_page
#endif

/*
 * 6.18 renamed generic_delete_inode() ("evict at the last iput, never
 * cache") to inode_just_drop(); unchanged otherwise.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
#define shim_drop_inode		inode_just_drop
#else
#define shim_drop_inode		generic_delete_inode
#endif

#endif /* _GMEMFS_SHIM_COMPAT_H */
