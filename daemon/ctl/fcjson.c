/*
 * Firecracker's GuestRegionUffdMapping array (see fcjson.h): a
 * recursive-descent parser for the one shape the protocol has.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctl/fcjson.h"

struct gm_fc_json {
	const char *p, *end, *start;
	char *why;
};

enum { FC_ADDR, FC_SIZE, FC_OFFSET, FC_PAGE_SIZE, FC_PAGE_SIZE_KIB, FC_NFIELDS };

static const char *const gm_fc_fields[FC_NFIELDS] = {
	"base_host_virt_addr", "size", "offset", "page_size", "page_size_kib",
};

static int gm_fc_fail(struct gm_fc_json *j, const char *what)
{
	snprintf(j->why, GM_CHAN_WHY_MAX, "JSON byte %td: %s", j->p - j->start, what);
	return -EINVAL;
}

static void gm_fc_ws(struct gm_fc_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* The next byte after whitespace is c: consume it. */
static bool gm_fc_take(struct gm_fc_json *j, char c)
{
	gm_fc_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

/* A key: a string of [a-z_], one of the five fields. */
static int gm_fc_key(struct gm_fc_json *j, int *field)
{
	const char *k;
	size_t len;

	if (!gm_fc_take(j, '"'))
		return gm_fc_fail(j, "expected a field name");
	k = j->p;
	while (j->p < j->end && ((*j->p >= 'a' && *j->p <= 'z') || *j->p == '_'))
		j->p++;
	len = j->p - k;
	if (j->p >= j->end || *j->p != '"')
		return gm_fc_fail(j, "a field name is not a plain lowercase string");
	j->p++;
	for (int i = 0; i < FC_NFIELDS; i++) {
		if (strlen(gm_fc_fields[i]) == len && !memcmp(gm_fc_fields[i], k, len)) {
			*field = i;
			return 0;
		}
	}
	return gm_fc_fail(j, "unknown field");
}

static int gm_fc_number(struct gm_fc_json *j, uint64_t *v)
{
	const char *d;

	gm_fc_ws(j);
	d = j->p;
	*v = 0;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		unsigned digit = *j->p - '0';

		if (*v > (UINT64_MAX - digit) / 10)
			return gm_fc_fail(j, "number over 64 bits");
		*v = *v * 10 + digit;
		j->p++;
	}
	if (j->p == d)
		return gm_fc_fail(j, "expected an unsigned integer");
	if (j->p - d > 1 && *d == '0')
		return gm_fc_fail(j, "a number with a leading zero");
	if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		return gm_fc_fail(j, "a number that is not an integer");
	return 0;
}

static int gm_fc_object(struct gm_fc_json *j, struct gm_uffd_region *r)
{
	uint64_t v[FC_NFIELDS];
	unsigned seen = 0;
	int field, err;

	if (!gm_fc_take(j, '{'))
		return gm_fc_fail(j, "expected '{'");
	do {
		err = gm_fc_key(j, &field);
		if (err)
			return err;
		if (seen & (1u << field))
			return gm_fc_fail(j, "a field given twice");
		seen |= 1u << field;
		if (!gm_fc_take(j, ':'))
			return gm_fc_fail(j, "expected ':'");
		err = gm_fc_number(j, &v[field]);
		if (err)
			return err;
	} while (gm_fc_take(j, ','));
	if (!gm_fc_take(j, '}'))
		return gm_fc_fail(j, "expected ',' or '}'");
	if (seen != (1u << FC_NFIELDS) - 1)
		return gm_fc_fail(j, "an object without all five fields");
	if (v[FC_PAGE_SIZE_KIB] != v[FC_PAGE_SIZE])
		return gm_fc_fail(j, "page_size_kib (bytes, despite its name) differs from page_size");
	*r = (struct gm_uffd_region){
		.addr = v[FC_ADDR], .size = v[FC_SIZE], .offset = v[FC_OFFSET],
		.page_size = v[FC_PAGE_SIZE],
	};
	return 0;
}

int gm_fc_parse_regions(const char *text, size_t len, struct gm_uffd_region *out,
			unsigned max, unsigned *n, char why[GM_CHAN_WHY_MAX])
{
	struct gm_fc_json j = { .p = text, .end = text + len, .start = text, .why = why };
	int err;

	*n = 0;
	if (!gm_fc_take(&j, '['))
		return gm_fc_fail(&j, "expected '['");
	do {
		if (*n == max)
			return gm_fc_fail(&j, "too many regions");
		err = gm_fc_object(&j, &out[*n]);
		if (err)
			return err;
		(*n)++;
	} while (gm_fc_take(&j, ','));
	if (!gm_fc_take(&j, ']'))
		return gm_fc_fail(&j, "expected ',' or ']'");
	gm_fc_ws(&j);
	if (j.p != j.end)
		return gm_fc_fail(&j, "bytes after the array");
	return 0;
}
