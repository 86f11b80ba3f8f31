/*
 * systemd's readiness notification: with Type=notify, `systemctl start`
 * returns once the mount serves rather than when the process starts.  The
 * protocol is one datagram on the AF_UNIX socket $NOTIFY_SOCKET names (a
 * leading '@' means the abstract namespace); a few lines, so gmemfsd does
 * not link libsystemd for it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/notify.h"

static int gm_notify_send(const char *path, const char *msg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	socklen_t salen;
	int fd, err;

	err = -EINVAL;
	if ((path[0] != '/' && path[0] != '@') || len < 2 || len >= sizeof(sa.sun_path))
		return err;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/');
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = 0;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		err = -errno;
	close(fd);
	return err;
}

int gm_notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	int err;

	if (!path)
		return 0;
	err = gm_notify_send(path, "READY=1");
	if (err)
		gm_warn("cannot tell the service manager we are ready through %s: %s",
			path, strerror(-err));
	/* Not for anything gmemfsd might start: it is ours to tell. */
	unsetenv("NOTIFY_SOCKET");
	return err;
}
