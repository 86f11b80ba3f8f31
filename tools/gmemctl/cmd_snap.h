/*
 * gmemctl's snapshot and restore subcommands (cmd_snap.c).  They take the
 * words after their name themselves (snapshot has an option of its own),
 * with the global --json and --socket passed in.
 */
#ifndef GMEMCTL_CMD_SNAP_H
#define GMEMCTL_CMD_SNAP_H

#include <stdbool.h>

int cmd_snapshot(int argc, char **argv, bool json, const char *sock_path);
int cmd_restore(int argc, char **argv, bool json, const char *sock_path);

#endif
