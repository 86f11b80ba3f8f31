/*
 * fixture: the daemon set-up the unit suites share (see fixture.h).
 */
#include <string.h>

#include <check.h>

#include "ck_tmpdir.h"
#include "fixture.h"

void ck_fs_opts(const char *base, char *state, size_t len, struct gm_opts *opts,
		uint64_t pool_bytes)
{
	ck_assert_msg(base[0], "no scratch dir");
	ck_assert_int_eq(ck_tmpdir_sub(base, state, len), 0);
	*opts = (struct gm_opts){ .state_dir = state, .pool_bytes = pool_bytes,
				  .pagesize = GM_PS_AUTO };
}

void ck_fs_up(struct gm_fs *fs, struct gm_opts *opts)
{
	memset(fs, 0, sizeof(*fs));
	ck_assert_int_eq(gm_fs_setup(fs, opts), 0);
}

uint32_t ck_ref_crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = 0xffffffff;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78 : crc >> 1;
	}
	return ~crc;
}
