/*
 * Control commands on one file: info, open (the backing fd) and attach-vm
 * (a kvm-gmem file adopts the guest_memfd the VMM made on its VM).  The fds
 * go through the handout seam (mem/handout.h); the figures are
 * GMEMFS_IOC_INFO's (mem/file_info.h).
 *
 * Not for: choosing or creating backings (providers, mem/handout.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mem/backing.h"
#include "ctl/cmd.h"
#include "mem/file_info.h"
#include "mem/handout.h"
#include "meta/policy_text.h"
#include "prov/kvm_gmem.h"

/* What a regular file's backing says, as GMEMFS_IOC_INFO reports it. */
static int gm_ctl_put_file(struct gm_fs *fs, struct nl_msg *msg, struct gm_inode *inode)
{
	struct gmemfs_info info = { 0 };
	int err = gm_file_info(fs, inode, &info);

	if (err)
		return err;
	if (nla_put_u32(msg, GMEMFS_CTL_A_PROVIDER, info.provider) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_A_SIZE, info.size) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_A_POPULATED, info.populated) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_A_PAGE_SIZE, info.page_size) < 0 ||
	    nla_put_u32(msg, GMEMFS_CTL_A_INFO_FLAGS, info.flags) < 0)
		return -EMSGSIZE;
	return 0;
}

int gm_ctl_put_attrs(struct gm_fs *fs, struct nl_msg *msg, struct gm_inode *inode)
{
	/* Takes tree_lock for a directory, so before inode->lock (meta/inode.h). */
	const char *policy = gm_policy_get_text(fs, inode);
	uint32_t mode, uid, gid;

	pthread_mutex_lock(&inode->lock);
	mode = inode->type | inode->perm;
	uid = inode->uid;
	gid = inode->gid;
	pthread_mutex_unlock(&inode->lock);
	if (nla_put_u32(msg, GMEMFS_CTL_A_MODE, mode) < 0 ||
	    nla_put_u32(msg, GMEMFS_CTL_A_UID, uid) < 0 ||
	    nla_put_u32(msg, GMEMFS_CTL_A_GID, gid) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_A_ID, inode->ino) < 0 ||
	    nla_put_string(msg, GMEMFS_CTL_A_POLICY, policy) < 0)
		return -EMSGSIZE;
	return inode->type == S_IFREG ? gm_ctl_put_file(fs, msg, inode) : 0;
}

/* The attributes into the reply, failing the request with a reason. */
static int gm_ctl_reply_attrs(struct gm_ctl_req *r, struct gm_inode *inode)
{
	int err = gm_ctl_put_attrs(r->fs, r->reply, inode);

	return err ? gm_ctl_fail(r, err, "file %llu: cannot read its backing",
				 (unsigned long long)inode->ino) : 0;
}

/* Resolve PATH to a regular file the requester may act on with mask. */
static int gm_ctl_file(struct gm_ctl_req *r, int mask, struct gm_inode **out)
{
	struct nlattr *flags = r->m.tb[GMEMFS_CTL_A_FLAGS];
	struct gm_inode *inode;
	int err;

	if (flags && nla_get_u32(flags))
		return gm_ctl_fail(r, -EINVAL, "unknown flags 0x%x", nla_get_u32(flags));
	err = gm_ctl_resolve_may(r, mask, &inode);
	if (err)
		return err;
	if (inode->type != S_IFREG) {
		gm_fs_put(r->fs, inode);
		return gm_ctl_fail(r, -EISDIR, "a directory, not a guest-memory file");
	}
	*out = inode;
	return 0;
}

int gm_ctl_cmd_info(struct gm_ctl_req *r)
{
	struct gm_inode *inode;
	int err;

	err = gm_ctl_resolve(r, &inode);
	if (err)
		return err;
	err = gm_ctl_reply_attrs(r, inode);
	gm_fs_put(r->fs, inode);
	return err;
}

int gm_ctl_cmd_open(struct gm_ctl_req *r)
{
	struct gm_inode *inode;
	int err;

	err = gm_ctl_file(r, R_OK | W_OK, &inode);
	if (err)
		return err;
	err = gm_ctl_reply_attrs(r, inode);
	if (err)
		goto out_put;
	err = gm_handout_open(r->fs, inode);
	if (err < 0) {
		err = gm_ctl_fail(r, err, "file %llu: no backing to hand out",
				  (unsigned long long)inode->ino);
		goto out_put;
	}
	r->fd_out = err;
	err = 0;
out_put:
	gm_fs_put(r->fs, inode);
	return err;
}

/* Is inode a kvm-gmem file now?  Checked before attaching so that the
 * reply can tell "wrong kind of file" from the attach's own refusals. */
static bool gm_ctl_is_kvm_gmem(struct gm_inode *inode)
{
	bool yes;

	pthread_mutex_lock(&inode->lock);
	yes = inode->pi && inode->pi->prov->id == GMEMFS_PROV_KVM_GMEM;
	pthread_mutex_unlock(&inode->lock);
	return yes;
}

/* The request's fd is a guest_memfd the VMM created on its own VM (KVM
 * serves KVM_CREATE_GUEST_MEMFD only to the VM's process); the reply has
 * the file's attributes and no fd: the VMM holds the guest_memfd already. */
int gm_ctl_cmd_attach_vm(struct gm_ctl_req *r)
{
	char why[GM_CHAN_WHY_MAX];
	struct gm_inode *inode;
	int err;

	/* Whatever the file, the wrong kind of fd is the client's mistake. */
	if (!prov_kvm_gmem_is_gmem(r->fd_in))
		return gm_ctl_fail(r, -EBADF, "the fd attached is not a guest_memfd (want "
				   "the fd KVM_CREATE_GUEST_MEMFD returned on the VMM's VM)");
	err = gm_ctl_file(r, R_OK | W_OK, &inode);
	if (err)
		return err;
	err = -EINVAL;
	if (!gm_ctl_is_kvm_gmem(inode)) {
		err = gm_ctl_fail(r, err, "file %llu (policy %s) cannot be bound to a VM: "
				  "only kvm-gmem files can", (unsigned long long)inode->ino,
				  gm_policy_get_text(r->fs, inode));
		goto out_put;
	}
	err = gm_handout_adopt_gmem(r->fs, inode, r->fd_in, why, sizeof(why));
	if (err) {
		err = gm_ctl_fail(r, err, "file %llu cannot be attached: %s",
				  (unsigned long long)inode->ino, why);
		goto out_put;
	}
	err = gm_ctl_reply_attrs(r, inode);
out_put:
	gm_fs_put(r->fs, inode);
	return err;
}
