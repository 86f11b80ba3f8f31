/*
 * gm-ctl: a control-socket client for the integration tests.
 *
 *   gm-ctl [--as UID:GID[:G1,G2...]] SOCKET COMMAND ARGS
 *     open PATH [TEXT]      the backing fd; TEXT is written at offset 0 through it
 *     info PATH             key=value lines
 *     policy-get PATH | policy-set PATH VALUE | list DIR | pool
 *     attach PATH HOW [EXPECT [TEXT]]
 *                           attach-vm.  HOW: kvm (gmemfs_ctl_attach_vm on a
 *                           new KVM VM: libgmemfs makes the guest_memfd);
 *                           vm-devnull (the same with /dev/null for the VM);
 *                           gmem, gmem-small, gmem-nommap, gmem-private
 *                           (gmemfs_ctl_attach_gmem of a guest_memfd made
 *                           here on a new VM: of the file's size, 4 KiB
 *                           smaller, without MMAP, MMAP without
 *                           INIT_SHARED); devnull or none (/dev/null, or
 *                           no fd).  With EXPECT, map the guest_memfd,
 *                           print whether it starts with EXPECT, then
 *                           write TEXT at offset 0 through the mapping
 *     stall                 send list requests without reading a reply until
 *                           the socket is full, print "stalled", then wait
 *                           (at most 120 s) to be killed
 *     flood N               hold N connections open at once; print how many
 *                           were served a pool request, close them all, and
 *                           check that a new connection is served at once
 *     bench PATH N          N info and N open requests on one connection;
 *                           prints the mean round trip of each in us
 *     hold N SECS           open up to N connections without waiting for the
 *                           daemon to accept them, print "held K", keep them
 *                           SECS seconds, close them
 *     hostile FILE          malformed, truncated and hostile messages on one
 *                           connection (FILE: a regular file for attach tests);
 *                           each must get its error and leave the connection usable
 *
 * --as drops to that user and those groups (setgroups, setresgid,
 * setresuid) before connecting, so the daemon sees an unprivileged peer.
 * A refused request prints "error ENAME: reason" and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/chan.h"
#include "common/clock.h"
#include "gmemfs_client.h"
#include "kvm_compat.h"

static int refused(struct gmemfs_ctl *c, int err)
{
	printf("error %s: %s\n", strerrorname_np(-err), gmemfs_ctl_reason(c));
	return 1;
}

static int drop_to(const char *spec)
{
	unsigned uid, gid;
	gid_t groups[32];
	int n = 0, used = 0;
	const char *p;

	if (sscanf(spec, "%u:%u%n", &uid, &gid, &used) != 2)
		return -1;
	for (p = spec + used; *p == ':' || *p == ','; ) {
		unsigned g;
		int k;

		if (sscanf(p + 1, "%u%n", &g, &k) != 1 || n == 32)
			return -1;
		groups[n++] = g;
		p += 1 + k;
	}
	if (setgroups(n, groups) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		perror("gm-ctl: dropping privileges");
		return -1;
	}
	return 0;
}

static int new_vm(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm;

	if (kvm < 0)
		return -errno;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	vm = vm < 0 ? -errno : vm;
	close(kvm);
	return vm;
}

static void print_stat(const struct gmemfs_ctl_stat *st)
{
	printf("id=%llu\nmode=%o\nuid=%u\ngid=%u\npolicy=%s\nprovider=%s\nsize=%llu\n"
	       "populated=%llu\npage_size=%llu\nflags=%u\n", (unsigned long long)st->id,
	       st->mode, st->uid, st->gid, st->policy, gmemfs_prov_name(st->info.provider),
	       (unsigned long long)st->info.size, (unsigned long long)st->info.populated,
	       (unsigned long long)st->info.page_size, st->info.flags);
}

static int cmd_open(struct gmemfs_ctl *c, int argc, char **argv)
{
	struct gmemfs_ctl_stat st;
	int fd = gmemfs_ctl_open(c, argv[0], &st), fl;

	if (fd < 0)
		return refused(c, fd);
	fl = fcntl(fd, F_GETFL);
	printf("fd=%s cloexec=%d\n", (fl & O_ACCMODE) == O_RDWR ? "rdwr" : "not-rdwr",
	       !!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
	print_stat(&st);
	if (argc > 1 && pwrite(fd, argv[1], strlen(argv[1]), 0) != (ssize_t)strlen(argv[1])) {
		perror("gm-ctl: pwrite");
		return 1;
	}
	close(fd);
	return 0;
}

/* The fd attach starts from: made before --as drops privileges (/dev/kvm
 * is not for everyone); a VM for kvm and gmem*.  -1 for "none", or -errno. */
static int attach_fd(const char *what)
{
	int fd;

	if (!strcmp(what, "kvm") || !strncmp(what, "gmem", 4))
		return new_vm();
	if (!strcmp(what, "devnull") || !strcmp(what, "vm-devnull")) {
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	return -1;
}

/* What a VMM sees in the guest_memfd it got: the bytes written through
 * the mount before attach; what it writes, the mount must read back. */
static int attach_map(int fd, size_t size, const char *expect, const char *text)
{
	size_t len = strlen(expect), tlen = text ? strlen(text) : 0;
	char *ram;

	if (len > size || tlen > size) {
		printf("EXPECT or TEXT is longer than the file\n");
		return 2;
	}
	ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ram == MAP_FAILED) {
		printf("mmap of the guest_memfd: %s\n", strerror(errno));
		return 1;
	}
	printf("mapping %s\n", memcmp(ram, expect, len) ? "holds something else" :
	       "starts with EXPECT");
	memcpy(ram, text ? text : "", tlen);
	munmap(ram, size);
	return 0;
}

/* A guest_memfd on vm as HOW wants it, sized from the file's INFO. */
static int attach_gmem_fd(struct gmemfs_ctl *c, const char *path, const char *how, int vm)
{
	struct kvm_create_guest_memfd req = {
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
	};
	struct gmemfs_ctl_stat st;
	int fd, err;

	err = gmemfs_ctl_info(c, path, &st);
	if (err)
		return err;
	req.size = (st.info.size + 4095) & ~4095ULL;
	if (!strcmp(how, "gmem-small"))
		req.size -= 4096;
	else if (!strcmp(how, "gmem-nommap"))
		req.flags = 0;
	else if (!strcmp(how, "gmem-private"))
		req.flags = GUEST_MEMFD_FLAG_MMAP;
	fd = ioctl(vm, KVM_CREATE_GUEST_MEMFD, &req);
	return fd < 0 ? -errno : fd;
}

/* Attach as HOW: the guest_memfd the file now lives in, or -errno. */
static int attach_how(struct gmemfs_ctl *c, const char *path, const char *how, int vm,
		      struct gmemfs_ctl_stat *st)
{
	int fd, err;

	if (!strcmp(how, "kvm") || !strcmp(how, "vm-devnull"))
		return gmemfs_ctl_attach_vm(c, path, vm, st);
	fd = strncmp(how, "gmem", 4) ? vm : attach_gmem_fd(c, path, how, vm);
	if (fd < 0 && strcmp(how, "none")) {
		printf("cannot make the guest_memfd to attach: %s\n", strerror(-fd));
		return -EPIPE;
	}
	err = gmemfs_ctl_attach_gmem(c, path, fd, st);
	if (err && fd >= 0 && fd != vm)
		close(fd);
	return err ? err : fd;
}

static int cmd_attach(struct gmemfs_ctl *c, int argc, char **argv, int vm)
{
	struct gmemfs_ctl_stat st;
	int fd, err = 0;

	if (strcmp(argv[1], "none") && vm < 0) {
		printf("cannot make the fd to attach: %s\n", strerror(-vm));
		return 2;
	}
	fd = attach_how(c, argv[0], argv[1], vm, &st);
	if (vm >= 0 && vm != fd)
		close(vm);
	if (fd == -EPIPE)
		return 2;
	if (fd < 0)
		return refused(c, fd);
	print_stat(&st);
	if (argc > 2)
		err = attach_map(fd, st.info.size, argv[2], argc > 3 ? argv[3] : NULL);
	close(fd);
	return err;
}

static int list_entry(void *ctx, const char *name, const struct gmemfs_ctl_stat *st)
{
	(void)ctx;
	printf("%s %s %llu\n", name, S_ISDIR(st->mode) ? "dir" : "file",
	       (unsigned long long)st->info.size);
	return 0;
}

static int cmd_simple(struct gmemfs_ctl *c, const char *cmd, int argc, char **argv)
{
	struct gmemfs_ctl_stat st;
	struct gmemfs_ctl_pool pool;
	char pol[32];
	int err = -EINVAL;

	if (!strcmp(cmd, "info") && argc == 1 && !(err = gmemfs_ctl_info(c, argv[0], &st)))
		print_stat(&st);
	else if (!strcmp(cmd, "policy-get") && argc == 1 &&
		 !(err = gmemfs_ctl_policy_get(c, argv[0], pol, sizeof(pol))))
		printf("%s\n", pol);
	else if (!strcmp(cmd, "policy-set") && argc == 2)
		err = gmemfs_ctl_policy_set(c, argv[0], argv[1]);
	else if (!strcmp(cmd, "list") && argc == 1)
		err = gmemfs_ctl_list(c, argv[0], list_entry, NULL);
	else if (!strcmp(cmd, "pool") && !(err = gmemfs_ctl_pool(c, &pool)))
		printf("budget=%llu used=%llu nprov=%u\n", (unsigned long long)pool.budget,
		       (unsigned long long)pool.used, pool.nprov);
	return err ? refused(c, err) : 0;
}

int gm_ctl_hostile(const char *sock, const char *file);

static int cmd_bench(struct gmemfs_ctl *c, const char *path, int n)
{
	struct gmemfs_ctl_stat st;
	double t0, t1, t2;
	int fd;

	t0 = gm_mono_ns() / 1e3;
	for (int i = 0; i < n; i++) {
		if (gmemfs_ctl_info(c, path, &st))
			return refused(c, -EIO);
	}
	t1 = gm_mono_ns() / 1e3;
	for (int i = 0; i < n; i++) {
		fd = gmemfs_ctl_open(c, path, &st);
		if (fd < 0)
			return refused(c, fd);
		close(fd);
	}
	t2 = gm_mono_ns() / 1e3;
	printf("info %.1f us, open (with fd) %.1f us per request, %d each\n",
	       (t1 - t0) / n, (t2 - t1) / n, n);
	return 0;
}

static int cmd_hold(const char *sock, int n, int secs)
{
	struct sockaddr_un sa;
	socklen_t len;
	int dirfd, k = 0, fds[256];

	if (n < 1 || n > 256 || gm_chan_sockaddr(sock, &sa, &len, &dirfd))
		return 2;
	for (; k < n; k++) {
		fds[k] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fds[k] < 0 || connect(fds[k], (struct sockaddr *)&sa, len)) {
			if (fds[k] >= 0)
				close(fds[k]);
			break;	/* the backlog is full: enough */
		}
	}
	printf("held %d\n", k);
	fflush(stdout);
	sleep(secs);
	while (k--)
		close(fds[k]);
	return 0;
}

static int cmd_flood(const char *sock, int n)
{
	struct gmemfs_ctl *c[256], *again;
	struct gmemfs_ctl_pool pool;
	int served = 0, opened = 0, err;

	if (n < 1 || n > 256)
		return 2;
	for (; opened < n; opened++) {
		if (gmemfs_ctl_connect(sock, &c[opened]))
			break;
	}
	for (int i = 0; i < opened; i++)
		served += gmemfs_ctl_pool(c[i], &pool) == 0;
	for (int i = 0; i < opened; i++)
		gmemfs_ctl_close(c[i]);
	printf("%d connections, %d served\n", opened, served);
	err = gmemfs_ctl_connect(sock, &again);
	if (!err) {
		err = gmemfs_ctl_pool(again, &pool);
		gmemfs_ctl_close(again);
	}
	printf("then a new connection: %s\n", err ? strerror(-err) : "served");
	return err ? 1 : 0;
}

/* A client that stops reading: its replies pile up until the daemon's
 * thread for it blocks in send; nothing else may notice. */
static int cmd_stall(const char *sock)
{
	struct sockaddr_un sa;
	struct nl_msg *msg;
	socklen_t len;
	int s, dirfd, n = 0;

	if (gm_chan_sockaddr(sock, &sa, &len, &dirfd))
		return 2;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, len)) {
		perror("gm-ctl stall: connect");
		return 2;
	}
	msg = gm_chan_new(GMEMFS_CTL_CMD_LIST, 1, NLM_F_REQUEST);
	if (!msg)
		return 2;
	/* Bounded: the socket buffers hold far fewer than this. */
	while (n < 1000000 && send(s, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len,
				   MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		n++;
	nlmsg_free(msg);
	printf("stalled after %d requests\n", n);
	fflush(stdout);
	sleep(120);
	return 0;
}

int main(int argc, char **argv)
{
	const char *as = NULL;
	struct gmemfs_ctl *c;
	int err, vm = -1;

	if (argc > 2 && !strcmp(argv[1], "--as")) {
		as = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc >= 5 && argc <= 7 && !strcmp(argv[2], "attach"))
		vm = attach_fd(argv[4]);
	if (as) {
		if (drop_to(as)) {
			fprintf(stderr, "gm-ctl: --as %s: want UID:GID[:G1,G2...]\n", as);
			return 2;
		}
	}
	if (argc < 3) {
		fprintf(stderr, "usage: gm-ctl [--as UID:GID[:GROUPS]] SOCKET COMMAND ARGS\n");
		return 2;
	}
	if (!strcmp(argv[2], "hostile") && argc == 4)
		return gm_ctl_hostile(argv[1], argv[3]);
	if (!strcmp(argv[2], "stall"))
		return cmd_stall(argv[1]);
	if (!strcmp(argv[2], "hold") && argc == 5)
		return cmd_hold(argv[1], atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(argv[2], "flood") && argc == 4)
		return cmd_flood(argv[1], atoi(argv[3]));
	err = gmemfs_ctl_connect(argv[1], &c);
	if (err) {
		printf("connect %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	if (!strcmp(argv[2], "open") && argc >= 4)
		err = cmd_open(c, argc - 3, argv + 3);
	else if (!strcmp(argv[2], "bench") && argc == 5)
		err = cmd_bench(c, argv[3], atoi(argv[4]));
	else if (!strcmp(argv[2], "attach") && argc >= 5 && argc <= 7)
		err = cmd_attach(c, argc - 3, argv + 3, vm);
	else
		err = cmd_simple(c, argv[2], argc - 3, argv + 3);
	gmemfs_ctl_close(c);
	return err;
}
