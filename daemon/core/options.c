/*
 * Size parsing for gmemfsd's options.  Not for: the option table itself,
 * which lives in main.c next to the libfuse argument handling.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/options.h"

#define GM_SIZE_ALIGN (2ULL << 20)

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
