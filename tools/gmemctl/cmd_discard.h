/*
 * gmemctl discard (cmd_discard.c): give a stopped mount's memory back for
 * good: unmount the stores under its state directory and remove it.
 * Not for: a running mount (it refuses), or commands that talk to a daemon.
 */
#ifndef GMEMCTL_CMD_DISCARD_H
#define GMEMCTL_CMD_DISCARD_H

/* argv[0] is the command's name: discard [--force] MOUNTPOINT|--state-dir=DIR. */
int cmd_discard(int argc, char **argv);

#endif
