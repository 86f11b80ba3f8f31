/*
 * Firecracker's page-fault-handler message: the JSON array of
 * GuestRegionUffdMapping objects a Firecracker VMM sends with its uffd.
 * A strict parser: an array of one or more objects, each with exactly the
 * five fields base_host_virt_addr, size, offset, page_size, page_size_kib
 * (in any order, each once) whose values are unsigned decimal integers
 * that fit 64 bits; page_size_kib, despite its name, in bytes, equal to
 * page_size.  Anything else (an unknown field, a string value, a sign, a
 * fraction, an escape in a key, bytes after the array) is refused with a
 * reason.  Pure logic, unit-tested.
 *
 * Not for: the socket (fc.c), checking regions against a snapshot
 * (uffd/session.c).
 */
#ifndef GM_UFFD_FCJSON_H
#define GM_UFFD_FCJSON_H

#include <stddef.h>

#include "uffd/session.h"

/* Parse len bytes of text into at most max regions: 0 and *n, or -EINVAL
 * with why (naming the byte offset and what was expected there). */
int gm_fc_parse_regions(const char *text, size_t len, struct gm_uffd_region *out,
			unsigned max, unsigned *n, char why[GM_CHAN_WHY_MAX]);

#endif
