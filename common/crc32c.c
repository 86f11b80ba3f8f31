/*
 * CRC-32C (Castagnoli), the checksum of the journal's records and of the
 * snapshot format's extents and index: the crc32 instruction where the CPU
 * has SSE4.2, slicing-by-8 tables elsewhere.
 */
#include <endian.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "common/crc32c.h"

static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;
static uint32_t crc_table[8][256];	/* written once, under crc_table_once */

static void crc_table_build(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78 : c >> 1;
		crc_table[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (unsigned t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* Slicing-by-8: about 1 byte per cycle, for CPUs without SSE4.2. */
uint32_t gm_crc32c_table(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc_table_once, crc_table_build);
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		v = le64toh(v) ^ crc;
		crc = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
		      crc_table[5][(v >> 16) & 0xff] ^ crc_table[4][(v >> 24) & 0xff] ^
		      crc_table[3][(v >> 32) & 0xff] ^ crc_table[2][(v >> 40) & 0xff] ^
		      crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/*
 * The crc32 instruction computes exactly CRC-32C, 8 bytes at a time, but
 * each depends on the one before (3 cycles of latency for one of
 * throughput): three independent streams over three blocks of a stripe
 * keep it busy, about three times as fast on a 64 KiB chunk.  The streams
 * are joined by shifting a crc past the next block's length, which for a
 * fixed length is linear in the crc's 32 bits: four tables of 256, built
 * once from the instruction itself.
 */
#define CRC_BLOCK	2048	/* bytes per stream in a stripe of three */

static pthread_once_t crc_shift_once = PTHREAD_ONCE_INIT;
static uint32_t crc_shift_table[4][256];	/* written once, under crc_shift_once */

__attribute__((target("sse4.2")))
static void crc_shift_build(void)
{
	uint32_t bit[32];

	for (int i = 0; i < 32; i++) {
		uint64_t c = 1u << i;

		for (int n = 0; n < CRC_BLOCK / 8; n++)
			c = _mm_crc32_u64(c, 0);
		bit[i] = (uint32_t)c;
	}
	for (int k = 0; k < 4; k++)
		for (int b = 0; b < 256; b++) {
			uint32_t t = 0;

			for (int j = 0; j < 8; j++)
				if (b >> j & 1)
					t ^= bit[8 * k + j];
			crc_shift_table[k][b] = t;
		}
}

/* crc as if CRC_BLOCK zero bytes followed. */
static uint32_t crc_shift(uint32_t c)
{
	return crc_shift_table[0][c & 255] ^ crc_shift_table[1][c >> 8 & 255] ^
	       crc_shift_table[2][c >> 16 & 255] ^ crc_shift_table[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint64_t crc32c_stripes(uint64_t c, const uint8_t **pp, size_t *len)
{
	const uint8_t *p = *pp;

	pthread_once(&crc_shift_once, crc_shift_build);
	for (; *len >= 3 * CRC_BLOCK; p += 3 * CRC_BLOCK, *len -= 3 * CRC_BLOCK) {
		uint64_t a = c, b = 0, d = 0;

		for (size_t i = 0; i < CRC_BLOCK; i += 8) {
			uint64_t x, y, z;

			memcpy(&x, p + i, 8);
			memcpy(&y, p + CRC_BLOCK + i, 8);
			memcpy(&z, p + 2 * CRC_BLOCK + i, 8);
			a = _mm_crc32_u64(a, x);
			b = _mm_crc32_u64(b, y);
			d = _mm_crc32_u64(d, z);
		}
		c = crc_shift(crc_shift((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)d;
	}
	*pp = p;
	return c;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	if (len >= 3 * CRC_BLOCK)
		c = crc32c_stripes(c, &p, &len);
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

uint32_t gm_crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_sse42(crc, buf, len);
	return gm_crc32c_table(crc, buf, len);
}
#else
uint32_t gm_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return gm_crc32c_table(crc, buf, len);
}
#endif
