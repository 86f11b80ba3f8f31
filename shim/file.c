// SPDX-License-Identifier: GPL-2.0
/*
 * Shim files: anonymous regular files on a private pseudo filesystem (as
 * mm/secretmem.c makes its files), created at the daemon's request and
 * found again by id when the daemon answers for them.  A file lives as long
 * as its inode: every struct file holds it, and every fd and mapping holds
 * a struct file, so eviction runs once nothing can touch the pages any
 * more.  A file created by a daemon with a token (an owner) is also kept
 * by the module itself, an inode and a module reference, until the
 * daemon DELETEs it: it outlives every fd and the daemon, and a later
 * daemon of the same token OPENs it again by id.  The inode opens with shim_fops, so reopening /proc/PID/fd/N gives
 * a new open file description of the same shim file, as for a memfd: that
 * is how gmemfsd hands a file to a VMM (daemon/mem/handout.c).
 *
 * A secret file (GMEMFS_SHIM_F_SECRET) is the same inode with its pages
 * from the carve-out instead of the page cache (secret.c).
 *
 * Not for: page lookup and faults (folio.c, secret.c), I/O (io.c).
 */
#include <linux/file.h>
#include <linux/magic.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>
#include <linux/slab.h>

#include "shim.h"

#define SHIM_MAGIC	0x676d6673	/* "gmfs" */

static struct vfsmount *shim_mnt __ro_after_init;

/* id -> shim_file; lookups take an inode reference under the xa_lock. */
static DEFINE_XARRAY_ALLOC1(shim_files);
static u32 shim_file_next;

static int shim_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* Guest memory is shared with the VMM; a private COW copy is not. */
	if ((vma->vm_flags & (VM_SHARED | VM_MAYSHARE)) !=
	    (VM_SHARED | VM_MAYSHARE))
		return -EINVAL;
	file_accessed(file);
	if (shim_is_secret(shim_file_of(file_inode(file)))) {
		shim_secret_mmap(vma);
		return 0;
	}
	shim_vm_flags_set(vma, VM_DONTEXPAND);
	vma->vm_ops = &shim_vm_ops;
	return 0;
}

static long shim_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct shim_file *sf = shim_file_of(file_inode(file));

	switch (cmd) {
	case GMEMFS_SHIM_IOC_CONVERT:
		return shim_ioctl_convert(sf, (void __user *)arg);
	case GMEMFS_SHIM_IOC_CACHE_READ:
		return shim_ioctl_cache_read(sf, (void __user *)arg);
	case GMEMFS_SHIM_IOC_DIRECT_MAP:
		return shim_ioctl_direct_map(sf, (void __user *)arg);
	}
	return -ENOTTY;
}

/*
 * No ->release: a file reopened through /proc shares the inode, and the
 * state goes with the last of them, in evict.
 */
static const struct file_operations shim_fops = {
	.owner		= THIS_MODULE,
	.mmap		= shim_mmap,
	.llseek		= generic_file_llseek,
	.read_iter	= shim_read_iter,
	.write_iter	= shim_write_iter,
	.fallocate	= shim_fallocate,
	.unlocked_ioctl	= shim_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static const struct inode_operations shim_iops = {
	.setattr	= shim_setattr,
};

/*
 * The last reference to the inode went: no fd, mapping or daemon request
 * holds it.  Its id goes first, so no lookup finds it half torn down
 * (lookups fail on I_FREEING anyway); the pfncache's folio references go
 * before the pages.  A file whose creation failed has no id yet.
 */
static void shim_evict_inode(struct inode *inode)
{
	struct shim_file *sf = shim_file_of(inode);

	if (sf && sf->id) {
		xa_erase(&shim_files, sf->id);
		shim_gpc_destroy(sf);
		shim_report(sf, GMEMFS_SHIM_EV_INVALIDATE, 0,
			    i_size_read(inode), shim_file_pages(sf),
			    GMEMFS_SHIM_INVAL_RELEASE);
	}
	/* No mapping, fd or pfncache entry is left to reach them. */
	if (sf && shim_is_secret(sf))
		shim_secret_drop(sf, 0, ULONG_MAX);
	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (sf) {
		xa_destroy(&sf->pfns);
		xa_destroy(&sf->private);
		xa_destroy(&sf->ask_failed);
		xa_destroy(&sf->orders);
		shim_owner_put(sf->owner);
		kfree(sf);
	}
}

static const struct super_operations shim_sops = {
	.statfs		= simple_statfs,
	.evict_inode	= shim_evict_inode,
	.drop_inode	= shim_drop_inode,
};

static int shim_init_fs_context(struct fs_context *fc)
{
	struct pseudo_fs_context *ctx = init_pseudo(fc, SHIM_MAGIC);

	if (!ctx)
		return -ENOMEM;
	ctx->ops = &shim_sops;
	return 0;
}

static struct file_system_type shim_fs_type = {
	.name		= "gmemfs_shim",
	.init_fs_context = shim_init_fs_context,
	.kill_sb	= kill_anon_super,
};

static struct shim_file *shim_file_alloc(struct inode *inode,
					 const struct shim_file_args *args)
{
	struct shim_file *sf;

	sf = kzalloc(sizeof(*sf), GFP_KERNEL);
	if (!sf)
		return NULL;
	sf->inode = inode;
	sf->order = args->order;
	sf->mode = args->mode;
	sf->flags = args->flags;
	xa_init(&sf->pfns);
	mutex_init(&sf->secret_lock);
	atomic_long_set(&sf->secret_pages, 0);
	xa_init(&sf->private);
	xa_init(&sf->ask_failed);
	xa_init(&sf->orders);
	rwlock_init(&sf->gpc_lock);
	INIT_LIST_HEAD(&sf->gpcs);
	return sf;
}

static void shim_inode_init(struct inode *inode, loff_t size)
{
	struct address_space *mapping = inode->i_mapping;

	inode->i_mode |= S_IFREG;
	inode->i_op = &shim_iops;
	/* Reopening through /proc opens with these (alloc_anon_inode refuses). */
	inode->i_fop = &shim_fops;
	inode->i_size = size;
	mapping->a_ops = &shim_aops;
	/* No backing store: pages must never be reclaimed or moved. */
	mapping_set_gfp_mask(mapping, GFP_HIGHUSER);
	mapping_set_unevictable(mapping);
	/* Any range may get a large order later (SET_ORDER). */
	mapping_set_large_folios(mapping);
}

/* A new open file of @inode, consuming the caller's inode reference. */
static struct file *shim_file_alloc_file(struct inode *inode)
{
	struct file *file;

	file = alloc_file_pseudo(inode, shim_mnt, "[gmemfs-shim]",
				 O_RDWR | O_LARGEFILE, &shim_fops);
	if (IS_ERR(file))
		return file;
	file->f_flags |= O_LARGEFILE;
	/* alloc_file_pseudo() leaves these to do_dentry_open(), unused here. */
	file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	file->f_mapping = inode->i_mapping;
	return file;
}

/* An owned file is kept by the module: its own inode and module reference. */
static void shim_file_keep(struct shim_file *sf)
{
	if (!sf->owner)
		return;
	ihold(sf->inode);
	__module_get(THIS_MODULE);
	set_bit(0, &sf->kept);
}

struct file *shim_file_create(const struct shim_file_args *args, u32 *id)
{
	struct shim_file *sf;
	struct inode *inode;
	struct file *file;
	int err;

	err = -EINVAL;
	if (args->size < 0 || args->size & ((PAGE_SIZE << args->order) - 1) ||
	    args->size > MAX_LFS_FILESIZE)
		goto err;
	err = -ENOENT;
	if (!try_module_get(THIS_MODULE))
		goto err;
	inode = alloc_anon_inode(shim_mnt->mnt_sb);
	err = PTR_ERR(inode);
	if (IS_ERR(inode))
		goto err_module;
	err = -ENOMEM;
	sf = shim_file_alloc(inode, args);
	if (!sf)
		goto err_inode;
	sf->owner = shim_owner_get(args->owner);
	sf->cookie = args->cookie;
	inode->i_private = sf;
	shim_inode_init(inode, args->size);
	err = shim_attr_init(sf, args->size >> PAGE_SHIFT,
			     args->flags & GMEMFS_SHIM_F_INIT_PRIVATE);
	if (err)
		goto err_inode;	/* evict frees sf */
	file = shim_file_alloc_file(inode);
	err = PTR_ERR(file);
	if (IS_ERR(file))
		goto err_inode;
	err = xa_alloc_cyclic(&shim_files, &sf->id, sf, xa_limit_31b,
			      &shim_file_next, GFP_KERNEL);
	if (err < 0) {
		sf->id = 0;	/* may be set though nothing was stored: evict skips it */
		fput(file);	/* eviction and the module ref go with it */
		return ERR_PTR(err);
	}
	shim_file_keep(sf);
	*id = sf->id;
	return file;

err_inode:
	iput(inode);
err_module:
	module_put(THIS_MODULE);
err:
	return ERR_PTR(err);
}

/* The base pages @sf holds: its page cache's, or its carve-out pages. */
unsigned long shim_file_pages(struct shim_file *sf)
{
	if (shim_is_secret(sf))
		return atomic_long_read(&sf->secret_pages);
	return sf->inode->i_mapping->nrpages;
}

/*
 * A new open file of a file the module keeps (-ENOENT if it keeps it no
 * more); the caller holds a reference to @sf.
 */
struct file *shim_file_open(struct shim_file *sf)
{
	struct file *file;

	if (!test_bit(0, &sf->kept))
		return ERR_PTR(-ENOENT);
	__module_get(THIS_MODULE);	/* the file's, as create's */
	ihold(sf->inode);
	file = shim_file_alloc_file(sf->inode);
	if (IS_ERR(file)) {
		iput(sf->inode);
		module_put(THIS_MODULE);
	}
	return file;
}

/*
 * The module keeps @sf no more: its pages go with the last fd and mapping.
 * -ENOENT if it did not keep it.  The caller holds a reference to @sf, so
 * nothing is evicted here.
 */
int shim_file_delete(struct shim_file *sf)
{
	if (!test_and_clear_bit(0, &sf->kept))
		return -ENOENT;
	iput(sf->inode);
	module_put(THIS_MODULE);
	return 0;
}

/*
 * The first file from *@id on that the module keeps for @owner,
 * referenced (shim_file_put()), its id in *@id; NULL if none.
 */
struct shim_file *shim_file_kept_next(struct shim_owner *owner, u32 *id)
{
	unsigned long index = *id;
	struct shim_file *sf;

	xa_lock(&shim_files);
	xa_for_each_start(&shim_files, index, sf, *id)
		if (sf->owner == owner && test_bit(0, &sf->kept) &&
		    igrab(sf->inode))
			break;
	xa_unlock(&shim_files);
	if (sf)
		*id = index;
	return sf;
}

/* The owner of the file @id, referenced; NULL if none (or no such file). */
struct shim_owner *shim_file_owner(u32 id)
{
	struct shim_owner *o = NULL;
	struct shim_file *sf;

	xa_lock(&shim_files);
	sf = xa_load(&shim_files, id);
	if (sf)
		o = shim_owner_get(sf->owner);
	xa_unlock(&shim_files);
	return o;
}

/*
 * The file of an id, with a reference on its inode so it cannot be
 * evicted while the daemon's request works on it; shim_file_put() it.
 */
struct shim_file *shim_file_get(u32 id)
{
	struct shim_file *sf;

	/*
	 * evict erases the id under the same lock, so a file found here is
	 * not freed yet; igrab() fails once eviction has begun (I_FREEING).
	 */
	xa_lock(&shim_files);
	sf = xa_load(&shim_files, id);
	if (sf && !igrab(sf->inode))
		sf = NULL;
	xa_unlock(&shim_files);
	return sf;
}

/* May evict the file, which reports INVALIDATE: no shim lock held. */
void shim_file_put(struct shim_file *sf)
{
	iput(sf->inode);
}

int shim_fs_init(void)
{
	int err;

	err = register_filesystem(&shim_fs_type);
	if (err)
		return err;
	shim_mnt = kern_mount(&shim_fs_type);
	if (IS_ERR(shim_mnt)) {
		err = PTR_ERR(shim_mnt);
		unregister_filesystem(&shim_fs_type);
	}
	return err;
}

void shim_fs_exit(void)
{
	kern_unmount(shim_mnt);
	unregister_filesystem(&shim_fs_type);
	WARN_ON(!xa_empty(&shim_files));
	xa_destroy(&shim_files);
}
