/*
 * gmemfsd's option table and the parsing of its values (sizes, huge page
 * counts).  Not for: what the options mean to the daemon (main.c turns a
 * gm_cli into gm_opts) or libfuse's own options, left in the arguments.
 */
#include <errno.h>
#include <fuse_opt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/options.h"

#define GM_SIZE_ALIGN (2ULL << 20)

/* Each option twice: --long-name for a command line, long_name for an -o
 * list, which is how mount(8) (through mount.fuse.gmemfs or mount.fuse3)
 * and an fstab line pass them.  --hugepages' value has commas, which an
 * -o list would split: there it is one option per page size. */
#define GM_OPT(t, f) { t, offsetof(struct gm_cli, f), 1 }
#define GM_OPT2(l, o, f) GM_OPT(l "=%s", f), GM_OPT(o "=%s", f)
static const struct fuse_opt gm_cli_spec[] = {
	GM_OPT2("--pool-size", "pool_size", pool_size),
	GM_OPT2("--pagesize", "pagesize", pagesize),
	GM_OPT("--hugepages=%s", hugepages),
	GM_OPT2("--hugepages-2m", "hugepages_2m", hugepages_2m),
	GM_OPT2("--hugepages-1g", "hugepages_1g", hugepages_1g),
	GM_OPT2("--state-dir", "state_dir", state_dir),
	GM_OPT2("--log-level", "log_level", log_level),
	GM_OPT2("--ctl-socket", "ctl_socket", ctl_socket),
	GM_OPT2("--shrink-mapped", "shrink_mapped", shrink_mapped),
	GM_OPT2("--views", "views", views),
	/* Atime rules libfuse's mount does not know; relatime is the default. */
	GM_OPT("strictatime", strictatime),
	FUSE_OPT_KEY("relatime", FUSE_OPT_KEY_DISCARD),
	GM_OPT("--version", version),
	FUSE_OPT_END
};

/* The non-option arguments: MOUNTPOINT, or SOURCE MOUNTPOINT as a mount
 * helper is called (mount.fuse3 runs "gmemfsd SOURCE DIR -o OPTS").  They
 * are kept out of args here and the mountpoint put back after. */
static int gm_cli_nonopt(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct gm_cli *cli = data;

	(void)outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;	/* libfuse's, or unknown: fuse_session_new says */
	if (++cli->nonopts > 2)
		return 0;
	free(cli->source);
	cli->source = cli->mountpoint;
	cli->mountpoint = strdup(arg);
	return cli->mountpoint ? 0 : -1;
}

int gm_cli_parse(struct fuse_args *args, struct gm_cli *cli)
{
	if (fuse_opt_parse(args, cli, gm_cli_spec, gm_cli_nonopt))
		return -ENOMEM;
	if (cli->nonopts > 2) {
		fprintf(stderr, "gmemfsd: too many arguments: want [SOURCE] MOUNTPOINT\n");
		return -EINVAL;
	}
	if (cli->mountpoint && fuse_opt_add_arg(args, cli->mountpoint))
		return -ENOMEM;
	return 0;
}

void gm_cli_free(struct gm_cli *cli)
{
	char **strs[] = {
		&cli->source, &cli->mountpoint, &cli->pool_size, &cli->pagesize,
		&cli->hugepages, &cli->hugepages_2m, &cli->hugepages_1g,
		&cli->state_dir, &cli->log_level, &cli->ctl_socket,
		&cli->shrink_mapped, &cli->views,
	};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
}

/* A page count: decimal digits only, at most UINT32_MAX. */
static int gm_parse_count(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int gm_cli_hugepages(const struct gm_cli *cli, uint32_t *n2m, uint32_t *n1g)
{
	if (cli->hugepages && gm_parse_hugepages(cli->hugepages, n2m, n1g)) {
		fprintf(stderr, "gmemfsd: --hugepages=%s: want 2M:N and/or 1G:N, "
			"comma-separated\n", cli->hugepages);
		return -EINVAL;
	}
	if (cli->hugepages_2m && gm_parse_count(cli->hugepages_2m, n2m)) {
		fprintf(stderr, "gmemfsd: hugepages_2m=%s: want a number of pages\n",
			cli->hugepages_2m);
		return -EINVAL;
	}
	if (cli->hugepages_1g && gm_parse_count(cli->hugepages_1g, n1g)) {
		fprintf(stderr, "gmemfsd: hugepages_1g=%s: want a number of pages\n",
			cli->hugepages_1g);
		return -EINVAL;
	}
	return 0;
}

static int gm_size_shift(char unit, unsigned *shift)
{
	switch (unit) {
	case 'k': case 'K': *shift = 10; return 0;
	case 'm': case 'M': *shift = 20; return 0;
	case 'g': case 'G': *shift = 30; return 0;
	case 't': case 'T': *shift = 40; return 0;
	default: return -EINVAL;
	}
}

int gm_parse_size(const char *s, uint64_t mem_total, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;
	int err;

	err = -EINVAL;
	if (!s || !*s || *s == '-' || *s == '+')
		return err;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s)
		return err;
	err = -ERANGE;
	if (errno == ERANGE)
		return err;
	if (*end == '%' && end[1] == '\0') {
		err = -EINVAL;
		if (v == 0 || v > 100 || mem_total == 0)
			return err;
		v = (uint64_t)((unsigned __int128)mem_total * v / 100);
	} else if (*end) {
		err = -EINVAL;
		if (end[1] != '\0' && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
			return err;
		if (gm_size_shift(*end, &shift))
			return err;
		err = -ERANGE;
		if (v > (UINT64_MAX >> shift))
			return err;
		v <<= shift;
	}
	*out = v & ~(GM_SIZE_ALIGN - 1);
	return 0;
}

int gm_parse_hugepages(const char *s, uint32_t *n2m, uint32_t *n1g)
{
	uint32_t v2m = *n2m, v1g = *n1g;
	bool seen2m = false, seen1g = false;

	if (!*s)
		return -EINVAL;
	while (*s) {
		unsigned long long v;
		bool *seen;
		uint32_t *dst;
		char *end;

		if (strncasecmp(s, "2M:", 3) == 0) {
			seen = &seen2m;
			dst = &v2m;
		} else if (strncasecmp(s, "1G:", 3) == 0) {
			seen = &seen1g;
			dst = &v1g;
		} else {
			return -EINVAL;
		}
		s += 3;
		if (*seen || *s < '0' || *s > '9')
			return -EINVAL;
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno || v > UINT32_MAX || (*end && *end != ','))
			return -EINVAL;
		*seen = true;
		*dst = (uint32_t)v;
		s = *end ? end + 1 : end;
		if (*end && !*s)
			return -EINVAL;		/* a trailing comma */
	}
	*n2m = v2m;
	*n1g = v1g;
	return 0;
}

uint64_t gm_mem_total(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f;

	f = fopen("/proc/meminfo", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return (uint64_t)kb << 10;
}

/* Whether comma-separated opts holds the option opt. */
bool gm_opts_has(const char *opts, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (!strncmp(p, opt, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}
