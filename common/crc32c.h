/*
 * CRC-32C, as the journal (meta/journal.c) and the snapshot format
 * (uapi/gmemfs_snap.h) use it.
 */
#ifndef GM_CRC32C_H
#define GM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of len bytes, continuing from crc (start with 0). */
uint32_t gm_crc32c(uint32_t crc, const void *buf, size_t len);
/* The same without the crc32 instruction (what gm_crc32c falls back to on
 * CPUs without SSE4.2); exported so the tests check both. */
uint32_t gm_crc32c_table(uint32_t crc, const void *buf, size_t len);

#endif
