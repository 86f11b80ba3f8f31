/*
 * gmemctl record-ws (cmd_record.c): record the working set of a running
 * guest whose VMM armed it (gmemfs_ctl_record_ws_arm).
 * Not for: other commands (gmemctl.c).
 */
#ifndef GMEMCTL_CMD_RECORD_H
#define GMEMCTL_CMD_RECORD_H

#include <stdbool.h>

/* argv[0] is the command's name; sock_path is --socket, or NULL. */
int cmd_record_ws(int argc, char **argv, const char *sock_path, bool json);

#endif
