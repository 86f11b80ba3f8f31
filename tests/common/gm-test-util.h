/*
 * gm-test-util: the small helpers that test programs and benchmarks share,
 * one copy each: the "ok - / FAIL - " line of a C test helper, the median
 * of a set of timings, and the byte pattern a test writes and reads back.
 * Header-only, so any helper can use it with test_common_inc alone.
 *
 * Not for: the clock (common/clock.h, gm_mono_ns), the guest's pattern
 * (vmm.h, gm_vmm_pattern: the guest code computes the same), or anything
 * that asserts through Check (tests/unit/fixture.h).
 */
#ifndef GM_TEST_UTIL_H
#define GM_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Failed report()s so far in this program; its exit status is 1 if any. */
static int gm_test_failures;

/* One line a result, as t-*.sh expect: "ok - what" or "FAIL - what: detail". */
static inline void gm_test_report(bool ok, const char *what, const char *detail)
{
	printf("%s - %s%s%s\n", ok ? "ok" : "FAIL", what, detail ? ": " : "", detail ? detail : "");
	fflush(stdout);
	gm_test_failures += !ok;
}

/* qsort's comparison of doubles, ascending. */
static inline int gm_cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* Sort v[0..n) (n > 0) and return its median: the middle value, or the
 * mean of the two middle ones; v[0] and v[n - 1] are then min and max. */
static inline double gm_median_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), gm_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The byte a test puts at offset off of a file or buffer: it changes with
 * the offset and the page, so a block read from the wrong place shows. */
static inline uint8_t gm_test_pattern_byte(uint64_t off, uint8_t seed)
{
	return (uint8_t)(off * 7 + off / 4096 + seed);
}

/* Fill buf with the pattern of the len bytes that start at offset off. */
static inline void gm_test_fill(void *buf, uint64_t off, size_t len, uint8_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = gm_test_pattern_byte(off + i, seed);
}

#endif
