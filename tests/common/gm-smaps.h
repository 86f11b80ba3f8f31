/*
 * One field of the /proc/self/smaps entry of the mapping that starts at an
 * address: what the kernel really used for it (KernelPageSize,
 * ShmemPmdMapped, ...).  Header-only, for the unit tests and the test
 * programs that check page sizes.  Not for: other processes' mappings.
 */
#ifndef GM_TEST_SMAPS_H
#define GM_TEST_SMAPS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The field in kB, or -1 if the mapping or the field is not there. */
static inline long gm_smaps_kb(const void *addr, const char *field)
{
	char line[512], start[32];
	size_t flen = strlen(field);
	bool in_vma = false;
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return -1;
	snprintf(start, sizeof(start), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, start, strlen(start)) == 0) {
			in_vma = true;
		} else if (in_vma && strncmp(line, field, flen) == 0 && line[flen] == ':') {
			sscanf(line + flen + 1, "%ld", &kb);
			break;
		}
	}
	fclose(f);
	return kb;
}

#endif
