/*
 * libgmemfs: snapshots from the client's side (see gmemfs_client.h).
 * Opening a snapshot chain by path, with the caller's own permissions, for
 * the daemon (which is handed the fds, never the paths) or for a local
 * reader.
 *
 * Not for: checking a snapshot (the daemon's daemon/snapfmt.c does that in
 * full; here only magic, version and the parent link are read, to find the
 * next layer).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmemfs_client.h"
#include "gmemfs_snap.h"

#define API __attribute__((visibility("default")))

static int chain_fail(char *why, size_t whylen, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int chain_fail(char *why, size_t whylen, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return err;
}

API void gmemfs_close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* The index header of one layer, enough of it checked to follow the chain. */
static int chain_header(int idx_fd, const char *idx, struct gmemfs_snap_header *h,
			char *why, size_t whylen)
{
	ssize_t n = pread(idx_fd, h, sizeof(*h), 0);

	if (n < 0)
		return chain_fail(why, whylen, -errno, "%s: %s", idx, strerror(errno));
	if ((size_t)n < sizeof(*h))
		return chain_fail(why, whylen, -EINVAL, "%s: truncated index (%zd bytes)", idx, n);
	if (memcmp(h->magic, GMEMFS_SNAP_MAGIC, sizeof(h->magic)))
		return chain_fail(why, whylen, -EINVAL, "%s: not a gmemfs snapshot index", idx);
	if (le32toh(h->version) != GMEMFS_SNAP_VERSION)
		return chain_fail(why, whylen, -EINVAL, "%s: index version %u, expected %u", idx,
				  le32toh(h->version), GMEMFS_SNAP_VERSION);
	if (!memchr(h->parent, 0, sizeof(h->parent)))
		return chain_fail(why, whylen, -EINVAL, "%s: parent path not terminated", idx);
	return 0;
}

/* The parent's path as the child names it: relative to the child's
 * directory unless absolute.  0 or -ENAMETOOLONG. */
static int chain_parent_path(const char *child, const char *parent, char *out, size_t len)
{
	const char *slash = strrchr(child, '/');
	int n;

	if (parent[0] == '/' || !slash)
		n = snprintf(out, len, "%s", parent);
	else
		n = snprintf(out, len, "%.*s/%s", (int)(slash - child), child, parent);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Open one layer: image O_RDONLY, index with idx_flags, into fds[0..1]. */
static int chain_open_layer(const char *img, int idx_flags, int *fds, char *why, size_t whylen)
{
	char idx[PATH_MAX];

	if (snprintf(idx, sizeof(idx), "%s%s", img, GMEMFS_SNAP_IDX_SUFFIX) >= (int)sizeof(idx))
		return chain_fail(why, whylen, -ENAMETOOLONG, "%s: path too long", img);
	fds[0] = open(img, O_RDONLY | O_CLOEXEC);
	if (fds[0] < 0)
		return chain_fail(why, whylen, -errno, "%s: %s", img, strerror(errno));
	fds[1] = open(idx, idx_flags | O_CLOEXEC);
	if (fds[1] < 0)
		return chain_fail(why, whylen, -errno, "%s: %s", idx, strerror(errno));
	return 0;
}

API int gmemfs_snap_open_chain(const char *snapfile, int idx0_flags, int *fds, unsigned max,
			       char *why, size_t whylen)
{
	char path[PATH_MAX], next[PATH_MAX];
	struct gmemfs_snap_header h;
	unsigned n = 0;
	int err;

	if (snprintf(path, sizeof(path), "%s", snapfile) >= (int)sizeof(path))
		return chain_fail(why, whylen, -ENAMETOOLONG, "%s: path too long", snapfile);
	for (unsigned i = 0; i < max; i++)
		fds[i] = -1;
	for (unsigned layer = 0;; layer++) {
		err = -EINVAL;
		if (layer == GMEMFS_SNAP_MAX_DEPTH) {
			chain_fail(why, whylen, err, "%s: chain deeper than %u layers",
				   snapfile, GMEMFS_SNAP_MAX_DEPTH);
			goto err_close;
		}
		err = -E2BIG;
		if (n + 2 > max) {
			chain_fail(why, whylen, err, "%s: room for %u fds, the chain needs more",
				   snapfile, max);
			goto err_close;
		}
		err = chain_open_layer(path, layer ? O_RDONLY : idx0_flags, fds + n, why, whylen);
		n += 2;
		if (err && layer && why && whylen) {
			char tmp[512];

			snprintf(tmp, sizeof(tmp), "%s", why);
			chain_fail(why, whylen, err, "missing parent of layer %u: %s", layer - 1, tmp);
		}
		if (!err)
			err = chain_header(fds[n - 1], path, &h, why, whylen);
		if (err)
			goto err_close;
		if (!(le32toh(h.flags) & GMEMFS_SNAP_F_PARENT))
			return n;
		err = -EINVAL;
		if (!h.parent[0]) {
			chain_fail(why, whylen, err, "%s: incremental, but names no parent", path);
			goto err_close;
		}
		err = chain_parent_path(path, h.parent, next, sizeof(next));
		if (err) {
			chain_fail(why, whylen, err, "%s: parent path too long", path);
			goto err_close;
		}
		memcpy(path, next, sizeof(path));
	}
err_close:
	gmemfs_close_fds(fds, n);
	return err;
}
