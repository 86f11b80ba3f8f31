/*
 * Size arguments of the test and benchmark programs: bytes, or a number
 * with a K/M/G suffix, a whole number of 4 KiB pages.  Header-only: each
 * program is one file.  (The daemon's own --pool-size parser, with
 * percentages and 2 MiB rounding, is daemon/options.c.)
 */
#ifndef GM_TEST_SIZE_H
#define GM_TEST_SIZE_H

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

static inline int gm_cli_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end || v == 0 || v % 4096)
		return -1;
	*out = v;
	return 0;
}

#endif
