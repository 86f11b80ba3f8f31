/*
 * What a regular file's backing says about it, as GMEMFS_IOC_INFO reports
 * it: the one place both ways of asking (the ioctl on the mount, the
 * control socket's file attributes) read the figures from, so they never
 * disagree.
 *
 * Not for: validating the ioctl's input (fuse/file.c) or encoding the
 * figures for a reply (ctl/cmd_file.c).
 */
#ifndef GM_FILE_INFO_H
#define GM_FILE_INFO_H

#include <stdbool.h>

#include "fs.h"
#include "gmemfs.h"

/* Fill out's provider, page_size, id, size, populated and flags from the
 * backing of regular file inode (takes inode->lock).  0 or -errno. */
int gm_file_info(struct gm_fs *fs, struct gm_inode *inode, struct gmemfs_info *out);
/* Is the file's memory secret (a secret shim file; GMEMFS_INFO_SECRET)?
 * Takes inode->lock. */
bool gm_file_secret(struct gm_inode *inode);

#endif
