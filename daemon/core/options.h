/*
 * gmemfsd's own command-line options (the FUSE ones are left for libfuse):
 * the option table, each option both as --long-name=VALUE and as
 * -o long_name=VALUE (the way mount(8) and mount.fuse3 pass them), and the
 * parsing of sizes and percentages.  Pure and unit-tested (check_path.c,
 * check_options.c).
 */
#ifndef GM_OPTIONS_H
#define GM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "meta/policy.h"

struct fuse_args;

/* What the command line said, as written; gm_opts is what it means. */
struct gm_cli {
	char *source;			/* mount(8)'s SOURCE, when called as a
					 * mount helper: SOURCE MOUNTPOINT */
	char *mountpoint;		/* the last non-option argument */
	char *pool_size;
	char *pagesize;
	char *hugepages;		/* --hugepages=2M:N,1G:N */
	char *hugepages_2m;		/* -o hugepages_2m=N: no commas inside, */
	char *hugepages_1g;		/* so that it survives an -o list */
	char *state_dir;
	char *log_level;
	char *ctl_socket;
	char *shrink_mapped;
	char *views;
	int strictatime;
	int version;
	int nonopts;			/* non-option arguments seen */
};

/* Takes gmemfsd's options out of args and leaves libfuse's, with the
 * mountpoint, for fuse_parse_cmdline().  More than SOURCE MOUNTPOINT is
 * an error, said on stderr.  0 or -EINVAL / -ENOMEM. */
int gm_cli_parse(struct fuse_args *args, struct gm_cli *cli);
void gm_cli_free(struct gm_cli *cli);

/* -o hugepages_2m / hugepages_1g over --hugepages, into n2m / n1g.  Says
 * on stderr what is wrong.  0 or -EINVAL. */
int gm_cli_hugepages(const struct gm_cli *cli, uint32_t *n2m, uint32_t *n1g);

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
