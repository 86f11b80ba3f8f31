/*
 * Reading /proc/self/mountinfo: it writes space, tab, newline and
 * backslash in its path fields as \ooo; gm_mountinfo_unescape undoes that
 * in place.  Shared by the daemon (mem/mapped.c), gmemctl discard and the
 * unit tests' scratch mounts.  Not for: parsing the rest of a line.
 */
#ifndef GM_COMMON_MOUNTINFO_H
#define GM_COMMON_MOUNTINFO_H

static inline void gm_mountinfo_unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

#endif
