/*
 * gmemfsd's own command-line options (the FUSE ones are left for libfuse).
 * Parsing of sizes and percentages is pure and unit-tested (check_path.c).
 */
#ifndef GM_OPTIONS_H
#define GM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "meta/policy.h"

struct gm_opts {
	char *mountpoint;		/* absolute, from libfuse's parser */
	char *state_dir;		/* --state-dir, or derived from mountpoint */
	char *ctl_socket;		/* --ctl-socket, or STATE_DIR.sock */
	uint64_t pool_bytes;		/* --pool-size, page-aligned */
	enum gm_pagesize pagesize;	/* --pagesize: the root directory's policy */
	uint32_t hugepages_2m;		/* --hugepages: pages to add to the kernel's */
	uint32_t hugepages_1g;		/* pools at start (and take back at exit) */
	enum gm_log_level log_level;	/* --log-level */
	bool shrink_mapped;		/* --shrink-mapped=allow: a truncate below
					 * a live mapping goes ahead, as POSIX lets it */
	bool strictatime;		/* -o strictatime (set after the mount) */
	bool views_visible;		/* --views=visible: readdir of the root
					 * lists .gmemfs (hidden: by name only) */
	bool foreground;
};

/* "1073741824", "512M", "2G", "1T", "50%" (of mem_total).  Result is
 * rounded down to 2 MiB so that THP files can use the whole pool.
 * 0 or -EINVAL / -ERANGE. */
int gm_parse_size(const char *s, uint64_t mem_total, uint64_t *out);

/* Whether comma-separated opts ("rw,nosuid,relatime") holds opt. */
bool gm_opts_has(const char *opts, const char *opt);

/* "2M:N", "1G:N" or both, comma-separated, each at most once (N decimal,
 * 0 allowed).  Fields not named are left as they are.  0 or -EINVAL. */
int gm_parse_hugepages(const char *s, uint32_t *n2m, uint32_t *n1g);

/* MemTotal from /proc/meminfo in bytes, or 0. */
uint64_t gm_mem_total(void);

#define GM_POOL_DEFAULT_PCT	50
#define GM_POOL_MIN		(16ULL << 20)

#endif
