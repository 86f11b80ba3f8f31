/*
 * gmemctl's lazy-restore commands (cmd_lazy.c): serve-uffd and sessions.
 * Not for: other commands (gmemctl.c).
 */
#ifndef GMEMCTL_CMD_LAZY_H
#define GMEMCTL_CMD_LAZY_H

#include <stdbool.h>

/* argv[0] is the command's name; sock_path is --socket, or NULL. */
int cmd_serve_uffd(int argc, char **argv, const char *sock_path);
int cmd_sessions(int argc, char **argv, const char *sock_path, bool json);

#endif
