/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces of the gmemfs shim module, one section per file.
 *
 * Lock order (outermost first):
 *   mapping->invalidate_lock (rw_semaphore, per file)
 *   folio lock; or for a secret file, shim_file.secret_lock (mutex)
 *   shim_daemon.lock (mutex; taken under the two above to send a NOTIFY
 *   or a request; also guards the owner list)
 *   shim_file.gpc_lock (rwlock)
 *   shim_daemon.queue_lock (spinlock), the carve-out's lock (spinlock),
 *   xarray locks
 * Nothing sleeps under the spinlocks or the rwlock: a secret page's
 * temporary mapping (memremap/memunmap) is made and dropped outside them.
 *
 * Not for: anything userspace sees; that is uapi/gmemfs_shim.h.
 */
#ifndef _GMEMFS_SHIM_H
#define _GMEMFS_SHIM_H

#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/wait.h>
#include <linux/xarray.h>
#include <net/genetlink.h>

#include "gmemfs_nl.h"
#include "compat.h"

struct iov_iter;

/*
 * The pfncache hands out page_address() of file pages; a kernel with
 * highmem would need kmap() here instead.
 */
#ifdef CONFIG_HIGHMEM
#error "the gmemfs shim assumes every page has a kernel mapping (no highmem)"
#endif

#define SHIM_MAX_ORDER		(PMD_SHIFT - PAGE_SHIFT)
#define SHIM_GPC_MAX		16	/* cache entries per file */

/*
 * A daemon's state directory, as its REGISTER TOKEN names it: the files
 * it created and their pending requests point here, and only a daemon
 * registered with the same token reaches them.  In the owner list (under
 * shim_daemon.lock) while referenced.
 */
/* Base pages held, and the most its daemon allows (SET_LIMIT); limit.c. */
struct shim_budget {
	atomic_long_t held;		/* charged by compare-and-swap */
	unsigned long limit;		/* READ_ONCE/WRITE_ONCE; ULONG_MAX: none */
};

struct shim_owner {
	struct kref ref;
	struct shim_budget budget;	/* its files' pages */
	struct list_head node;		/* under shim_daemon.lock */
	u8 token[GMEMFS_SHIM_TOKEN_MAX];
	u32 len;
	/* Under shim_daemon.lock: its daemon went away at gone_at (jiffies). */
	bool gone;
	unsigned long gone_at;
};

/* One shim file: the inode's private data, alive as long as its inode. */
struct shim_file {
	struct inode *inode;
	u32 id;			/* immutable; key in shim_files */
	/*
	 * Immutable: the owner (NULL: created without a token, kept by no
	 * one but its fds), and the daemon's COOKIE for it.
	 */
	struct shim_owner *owner;
	u64 cookie;
	u32 flags;		/* immutable: GMEMFS_SHIM_F_* of its CREATE */
	/*
	 * The module's own inode and module reference, taken at creation
	 * for an owned file; bit 0 cleared once by DELETE (or creation's
	 * unwind), which drops both.
	 */
	unsigned long kept;
	u32 order;		/* immutable: the default folio order, and the
				 * alignment of punch, truncate, conversion */
	/*
	 * enum gmemfs_shim_fault_mode; the daemon's SET_MODE changes it at
	 * any time (WRITE_ONCE), so a miss reads it once (READ_ONCE) and
	 * acts on that value throughout.
	 */
	u32 mode;
	/*
	 * Private ranges, one value entry per base page index.  Written
	 * under invalidate_lock held exclusive, read under it shared.
	 */
	struct xarray private;
	/*
	 * Ask-mode faults that failed while mmap_lock was dropped, by page
	 * index, for their retry to end in SIGBUS.  xa_lock only.
	 */
	struct xarray ask_failed;
	/*
	 * Folio order per 2M block (index >> SHIM_MAX_ORDER) where the daemon
	 * set one (value order + 1); for allocations from then on.  Written
	 * under invalidate_lock held exclusive; read under xa's RCU.
	 */
	struct xarray orders;
	/* pfncache entries; list and entries under gpc_lock */
	rwlock_t gpc_lock;
	struct list_head gpcs;
	unsigned int nr_gpcs;
	/*
	 * A secret file's pages (secret.c): page index -> pfn in the
	 * carve-out, a value entry per base page.  Stored under
	 * invalidate_lock held shared and secret_lock, erased under
	 * invalidate_lock held exclusive; read under either, or RCU.
	 * secret_pages counts them (st_blocks, LIST, INVALIDATE).
	 */
	struct xarray pfns;
	struct mutex secret_lock;
	atomic_long_t secret_pages;
};

static inline bool shim_is_secret(const struct shim_file *sf)
{
	return sf->flags & GMEMFS_SHIM_F_SECRET;
}

static inline struct shim_file *shim_file_of(struct inode *inode)
{
	return inode->i_private;
}

static inline unsigned long shim_folio_pages(const struct shim_file *sf)
{
	return 1UL << sf->order;
}

static inline loff_t shim_folio_bytes(const struct shim_file *sf)
{
	return PAGE_SIZE << sf->order;
}

/* The order the daemon asked for at @index (not yet checked for room). */
static inline u32 shim_order_at(struct shim_file *sf, pgoff_t index)
{
	void *entry = xa_load(&sf->orders, index >> SHIM_MAX_ORDER);

	return entry ? xa_to_value(entry) - 1 : sf->order;
}

/* A FAULT or CONVERT waiting for the daemon's answer. */
struct shim_req {
	struct kref ref;
	u32 id;			/* key in the request table */
	u32 type;		/* GMEMFS_SHIM_EV_FAULT or _CONVERT */
	u32 file_id;
	u64 offset, length;
	u32 flags;
	u32 uid, pid;		/* CONVERT: who asked, sent again on resend */
	struct shim_owner *owner;	/* the file's, referenced; or NULL */
	/*
	 * When the wait ends (jiffies): ask_timeout_ms from the send, or the
	 * grace's end while no daemon of the owner is there.  Under the
	 * table's lock, wq woken when it moves.
	 */
	unsigned long deadline;
	bool orphan;			/* kept for a daemon that went */
	struct list_head resend;	/* shim_daemon_register()'s, under its lock */
	/* written once, under the request table's lock, then wq woken */
	bool done;
	int status;		/* 0 or negative errno */
	wait_queue_head_t wq;
};

/* daemon.c: the registered daemon, the event queue, pending requests */
int shim_daemon_init(void);
void shim_daemon_exit(void);
struct mutex *shim_daemon_lock(void);
int shim_daemon_register(struct genl_info *info, const u8 *token, u32 len);
int shim_daemon_unregister(struct genl_info *info);
int shim_daemon_check(struct genl_info *info);
int shim_daemon_check_file(struct genl_info *info, struct shim_file *sf);
struct shim_owner *shim_daemon_owner(void);
void shim_report(struct shim_file *sf, u32 type, u64 offset, u64 length,
		 u64 pages, u32 flags);
struct shim_req *shim_req_submit(u32 type, u32 file_id, u64 offset,
				 u64 length, u32 flags);
int shim_req_wait(struct shim_req *req);
void shim_req_put(struct shim_req *req);
int shim_req_complete(u32 id, int status);
int shim_events_fill(struct sk_buff *msg);

/* owner.c: tokens, and how long requests wait for their daemon */
extern unsigned int shim_daemon_grace_ms;
struct shim_owner *shim_owner_find(const u8 *token, u32 len);
struct shim_owner *shim_owner_get(struct shim_owner *o);
void shim_owner_put(struct shim_owner *o);

/* genl.c: the family */
extern struct genl_family shim_genl_family;
int shim_genl_notify(struct net *net);

/* file.c: creation, lookup by id, fops */
int shim_fs_init(void);
void shim_fs_exit(void);
struct shim_file_args {
	loff_t size;
	u32 flags, order, mode;
	u64 cookie;
	struct shim_owner *owner;	/* the creator's; the file takes a ref */
};
struct file *shim_file_create(const struct shim_file_args *args, u32 *id);
unsigned long shim_file_pages(struct shim_file *sf);
struct file *shim_file_open(struct shim_file *sf);
int shim_file_delete(struct shim_file *sf);
struct shim_file *shim_file_get(u32 id);
struct shim_file *shim_file_kept_next(struct shim_owner *owner, u32 *id);
struct shim_owner *shim_file_owner(u32 id);
void shim_file_put(struct shim_file *sf);

/* folio.c: the one way to a page of an ordinary file */
struct folio *shim_folio_get(struct shim_file *sf, pgoff_t index,
			     bool alloc);
int shim_folio_populate(struct shim_file *sf, pgoff_t index,
			const void *data, size_t len);
int shim_folio_populate_range(struct shim_file *sf, pgoff_t index,
			      const void *data, unsigned long nr);
u32 shim_alloc_order(struct shim_file *sf, pgoff_t index);
int shim_folio_ask(struct shim_file *sf, pgoff_t index);
vm_fault_t shim_fault_ask_retry(struct vm_fault *vmf, struct shim_file *sf);
int shim_folio_charge(struct shim_file *sf, pgoff_t index, u32 order,
		      bool small_ok);
/* Where an allocation may place a large folio (or run) around @index. */
enum shim_fit {
	SHIM_FIT_MISS,	/* a miss: the aligned folio that holds @index */
	SHIM_FIT_PAGE,	/* POPULATE of the page at @index: one starting there */
	/*
	 * Multi-page POPULATE: one starting there that @len covers whole, so
	 * no page of the data is left zero and none past it is placed.
	 */
	SHIM_FIT_RANGE,
};
int shim_fit_order(struct shim_file *sf, pgoff_t index, size_t len,
		   enum shim_fit fit);
int shim_set_order(struct shim_file *sf, loff_t offset, loff_t len, u32 order);
long shim_range_drop(struct shim_file *sf, loff_t start, loff_t end);
extern const struct vm_operations_struct shim_vm_ops;
extern const struct address_space_operations shim_aops;

/*
 * secret.c: a secret file's pages, from the carve-out, kept by index;
 * its faults (PFN mappings), read/write and POPULATE
 */
long shim_secret_get(struct shim_file *sf, pgoff_t index, bool alloc);
bool shim_secret_has_page(struct shim_file *sf, pgoff_t first, pgoff_t last);
int shim_secret_populate(struct shim_file *sf, pgoff_t index,
			 const void *data, size_t len);
long shim_secret_populate_step(struct shim_file *sf, pgoff_t index,
			       unsigned long nr, const void *data, bool *placed);
size_t shim_secret_copy(struct shim_file *sf, loff_t pos, size_t n,
			struct iov_iter *iter, bool write, void *bounce,
			int *err);
long shim_secret_drop(struct shim_file *sf, pgoff_t first, pgoff_t last);
void shim_secret_mmap(struct vm_area_struct *vma);

/* carve.c: the carve-out and its page allocator */
int shim_carve_init(void);
void shim_carve_exit(void);
unsigned long shim_carve_pages(void);
unsigned long shim_carve_free_pages(void);
unsigned long shim_carve_alloc(u32 order);
void shim_carve_free(unsigned long pfn, unsigned long nr);
void *shim_carve_wb_get(unsigned long pfn, unsigned long nr);
void shim_carve_wb_put(void *kaddr);

/* directmap.c: GMEMFS_SHIM_IOC_DIRECT_MAP */
long shim_ioctl_direct_map(struct shim_file *sf, void __user *argp);

/* attr.c: private/shared state and conversion */
bool shim_range_private(struct shim_file *sf, pgoff_t index);
int shim_attr_init(struct shim_file *sf, pgoff_t nr, bool private);
void shim_attr_clear(struct shim_file *sf, pgoff_t first, pgoff_t nr);
long shim_ioctl_convert(struct shim_file *sf, void __user *argp);

/* io.c: read_iter, write_iter, fallocate, setattr */
ssize_t shim_read_iter(struct kiocb *iocb, struct iov_iter *to);
ssize_t shim_write_iter(struct kiocb *iocb, struct iov_iter *from);
long shim_fallocate(struct file *file, int mode, loff_t offset, loff_t len);
int shim_setattr(shim_idmap_t *idmap, struct dentry *dentry,
		 struct iattr *attr);

/*
 * limit.c: each owner's limit on the pages its files hold (NULL: the files
 * of daemons without a token, together), set by its daemon
 */
int shim_pages_charge(struct shim_owner *o, unsigned long nr);
void shim_pages_uncharge(struct shim_owner *o, unsigned long nr);
void shim_pages_set_limit(struct shim_owner *o, u64 pages);
void shim_pages_exit(void);

/* pfncache.c */
void shim_gpc_invalidate(struct shim_file *sf, loff_t start, loff_t end);
void shim_gpc_destroy(struct shim_file *sf);
long shim_ioctl_cache_read(struct shim_file *sf, void __user *argp);

#endif /* _GMEMFS_SHIM_H */
