/*
 * Telling a service manager that gmemfsd is ready: systemd's readiness
 * protocol (a datagram to $NOTIFY_SOCKET), spoken without libsystemd.
 * Not for: logging (stderr, which systemd sends to the journal).
 */
#ifndef GM_NOTIFY_H
#define GM_NOTIFY_H

/* Sends "READY=1" when a service manager asked for it (Type=notify) and
 * takes NOTIFY_SOCKET out of the environment.  0 when there is nobody to
 * tell or it was told, else negative errno (logged). */
int gm_notify_ready(void);

#endif
