/*
 * A JSON string literal, escaped: the one escaper of gmemfsd's
 * .gmemfs/stats and gmembench's --json output, which both print paths,
 * reasons and commands that may hold quotes or control characters.
 * Header-only, so programs outside the daemon (bench/) use it without
 * linking gmcore.
 */
#ifndef GM_JSON_H
#define GM_JSON_H

#include <stdio.h>

static inline void gm_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

#endif
