/*
 * What gmemctl's commands share: how a size prints (IEC units for people,
 * or exact bytes with --bytes; --json prints exact numbers itself) and how
 * a command reaches the daemon of a path.
 * Not for: the wire format (libgmemfs) or any one command (cmd_*.c).
 */
#ifndef GMEMCTL_CLI_H
#define GMEMCTL_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "gmemfs_client.h"

/* --bytes: sizes print as exact byte counts.  Set once, by main(). */
extern bool gmctl_exact_bytes;

/* Room for any size gmctl_size() prints: "18446744073709551615" or "1023.9 KiB". */
#define GMCTL_SIZE_LEN 24

/*
 * bytes for a person: the largest IEC unit it holds at least one of; a
 * whole number when exact ("4 KiB", "2 MiB", "512 B"), else one decimal
 * rounded to the nearest tenth ("11.8 GiB"), so a ".0" marks a value that
 * is close to but not exactly that ("4.0 KiB" is 4,097 bytes, say).
 * With --bytes: the exact count.  Returns out.
 */
const char *gmctl_size(char out[GMCTL_SIZE_LEN], uint64_t bytes);

/* Connect for path: through its mount, or to sock_path (--socket) when set,
 * then path is mount-relative.  *rel (to free) names path in requests. */
int gmctl_connect(const char *sock_path, const char *path, struct gmemfs_ctl **c,
		  char **rel);

#endif
