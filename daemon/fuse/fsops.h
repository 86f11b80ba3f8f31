/*
 * The FUSE operations of gmemfsd, grouped by area in one file each in
 * fuse/ and wired in one table in fsops.c.  Every handler ends in exactly
 * one fuse_reply_*(); errors inside the daemon are negative errnos,
 * turned positive only here, at the FUSE boundary.
 */
#ifndef GM_FSOPS_H
#define GM_FSOPS_H

#include <sys/stat.h>

#include "fs.h"
#include "meta/access.h"

extern const struct fuse_lowlevel_ops gm_fsops;

struct gm_new_args;	/* meta/namespace.h */
struct gm_acl_inh;	/* below, acl.c */

/*
 * How long the kernel may keep what a reply says (seconds).  Directories
 * change only through the daemon.  A regular file's attributes are cached
 * for GM_FILE_ATTR_TIMEOUT too, so an open (default_permissions checks
 * the mode) or a stat costs no GETATTR; what changes them is told to the
 * kernel where it can be known:
 * - a passthrough write updates i_size and drops the kernel's cached
 *   size, blocks and times itself (fuse_write_update_attr), and a
 *   truncate, fallocate or chmod through the mount gets fresh attributes
 *   in its reply or has the kernel drop them;
 * - a change the daemon makes on its own (chattr's ctime, a control-socket
 *   restore, size or policy move) calls gm_fs_attr_changed();
 * - page faults through a mapping, and I/O on a backing fd the control
 *   socket handed out, reach no one: st_blocks (and on such an fd, size
 *   and times) may lag by up to GM_FILE_ATTR_TIMEOUT.  statx with
 *   AT_STATX_FORCE_SYNC (stat --cached=never) is always exact.
 * The .gmemfs views re-render at every open: never cached.
 */
#define GM_DIR_TIMEOUT 1.0
#define GM_FILE_ATTR_TIMEOUT 1.0

static inline double gm_attr_timeout(const struct gm_inode *inode)
{
	return inode->is_virtual ? 0 : inode->type == S_IFDIR ? GM_DIR_TIMEOUT
							     : GM_FILE_ATTR_TIMEOUT;
}

/* Tell the kernel that inode's attributes changed behind a reply (only the
 * attributes: the kernel takes no inode lock for that, so it is safe from
 * any thread, inside a request's handler included). */
void gm_fs_attr_changed(struct gm_fs *fs, struct gm_inode *inode);

/* Shared helpers (fsops.c). */
void gm_fill_stat(struct gm_inode *inode, struct stat *st);
/* Reply with an entry for inode; the caller's reference goes to the
 * kernel (given back by forget). */
void gm_reply_entry(fuse_req_t req, struct gm_fs *fs, struct gm_inode *inode);
void gm_fill_entry(struct gm_fs *fs, struct gm_inode *inode, struct fuse_entry_param *e);
void gm_reply_err(fuse_req_t req, int neg_errno);
/* Most supplementary groups a request's credentials carry. */
#define GM_REQ_GROUPS	256
/* The requester's credentials into c, its supplementary groups into
 * groups[GM_REQ_GROUPS] (libfuse reads them from /proc, so only for a
 * non-root requester, where a rule needs them). */
void gm_req_cred(fuse_req_t req, struct gm_cred *c, gid_t *groups);

/* ns.c */
/* Create an inode for a request (owner, umask, setgid dirs). */
/* The owner, group and mode bits a request's new inode in dir gets; inh
 * for gm_acl_inherit_apply once it exists. */
void gm_fsops_owner(fuse_req_t req, struct gm_inode *dir, struct gm_new_args *a,
		    struct gm_acl_inh *inh);
int gm_fsops_new(fuse_req_t req, fuse_ino_t parent, struct gm_new_args *a,
		 struct gm_inode **out);
void gm_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void gm_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void gm_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void gm_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void gm_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 dev_t rdev);
void gm_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void gm_op_readlink(fuse_req_t req, fuse_ino_t ino);
void gm_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void gm_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void gm_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags);
void gm_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void gm_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void gm_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void gm_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void gm_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* attr.c */
void gm_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void gm_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi);
void gm_op_statfs(fuse_req_t req, fuse_ino_t ino);
void gm_op_access(fuse_req_t req, fuse_ino_t ino, int mask);

/* Is the requester root or a member of group gid? */
bool gm_req_in_group(fuse_req_t req, gid_t gid);

/* acl.c: POSIX ACLs */
/* setxattr of system.posix_acl_access (dflt false) or _default. */
int gm_acl_setxattr(fuse_req_t req, struct gm_inode *inode, bool dflt, const void *v,
		    size_t len, int flags);
/* A directory's default ACL handed to a new inode: prepare before the
 * create (true: a->mode is masked by it, so no umask applies, and a
 * carries the ACLs the creation journals with the inode), done after. */
struct gm_acl_inh {
	void *acc, *def;
	size_t len;
};
bool gm_acl_inherit_prepare(struct gm_inode *dir, struct gm_new_args *a,
			    struct gm_acl_inh *inh);
void gm_acl_inherit_done(struct gm_acl_inh *inh);

/* iflags.c: chattr flags */
uint32_t gm_inode_iflags(struct gm_inode *inode);
int gm_iflags_check_setattr(struct gm_inode *inode, int to_set);
int gm_iflags_check_fallocate(struct gm_inode *inode, int mode);
/* FS_IOC_GETFLAGS, SETFLAGS, FSGETXATTR, FSSETXATTR: replies. */
void gm_ioctl_iflags(fuse_req_t req, struct gm_inode *inode, unsigned int cmd,
		     const void *in_buf, size_t in_bufsz, size_t out_bufsz);

/* file.c */
/* Close a kept id on a file that is empty: it may move (truncate). */
void gm_file_backing_settle(struct gm_fs *fs, struct gm_inode *inode);
/* The inode table's evict hook: drops the kept id, then gm_backing_evict. */
void gm_file_evict(struct gm_itable *it, struct gm_inode *inode);
void gm_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void gm_op_tmpfile(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info *fi);
void gm_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void gm_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void gm_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void gm_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
void gm_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void gm_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
/* Between two passthrough files, backing to backing in the kernel; the
 * daemon checks what the VFS cannot see on a FUSE inode (chattr +i). */
void gm_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			   struct fuse_file_info *fi_out, size_t len, int flags);
void gm_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		     struct fuse_file_info *fi);
void gm_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		 struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		 size_t in_bufsz, size_t out_bufsz);

/* xattr.c */
void gm_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags);
void gm_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void gm_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void gm_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* views.c: the read-only views under .gmemfs (not the control socket:
 * that is ctl/).  Each open gets its own copy of the rendered document. */
int gm_view_open(fuse_req_t req, struct gm_inode *inode, struct fuse_file_info *fi);
void gm_view_read(fuse_req_t req, struct fuse_file_info *fi, size_t size, off_t off);
void gm_view_release(struct fuse_file_info *fi);
/* Free the copies whose RELEASE never came; after the loop ended. */
void gm_view_release_all(void);

/* stats.c: the JSON of .gmemfs/stats, with the files reader could list
 * through the mount; malloc'd, or NULL. */
char *gm_stats_json(struct gm_fs *fs, const struct gm_cred *reader, size_t *len);
/* metrics.c: the Prometheus text of .gmemfs/metrics and METRICS, with the
 * lazy-restore sessions reader may see (all for root); malloc'd, or NULL. */
char *gm_metrics_text(struct gm_fs *fs, uid_t reader, size_t *len);

/* A file's new size, as truncate or an O_TRUNC open asks (attr.c):
 * refused while mapped when it shrinks, checked against the pool and the
 * provider's rules.  0 or -errno (logged). */
int gm_file_set_size(struct gm_fs *fs, struct gm_inode *inode, off_t size);

#endif
