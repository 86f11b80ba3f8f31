/*
 * gm-ctl hostile: malformed, truncated and hostile requests, sent raw on
 * one connection.  Each must get an NLMSG_ERROR with its errno, fds sent
 * along must be closed by the daemon, and after each the same connection
 * must still answer a good request.  Prints "ok - ..." / "FAIL - ..."
 * lines and exits 1 if any failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/chan.h"
#include "gm-test-util.h"

struct raw {
	unsigned char b[24576];
	size_t len;
};

static int npass;
static uint32_t next_seq = 1;

static void raw_hdr(struct raw *r, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq };

	memset(r->b, 0, sizeof(r->b));
	memcpy(r->b, &h, sizeof(h));
	r->len = sizeof(h);
}

static void raw_put(struct raw *r, const void *data, size_t len)
{
	memcpy(r->b + r->len, data, len);
	r->len += len;
}

static void raw_attr(struct raw *r, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr a = { .nla_len = NLA_HDRLEN + len, .nla_type = type };

	raw_put(r, &a, sizeof(a));
	raw_put(r, data, len);
	r->len = NLMSG_ALIGN(r->len);
}

static void raw_fix(struct raw *r)
{
	((struct nlmsghdr *)r->b)->nlmsg_len = r->len;
}

/* A request header for cmd with a fresh seq; returns the seq. */
static uint32_t raw_req(struct raw *r, uint8_t cmd, uint8_t version)
{
	struct genlmsghdr g = { .cmd = cmd, .version = version };
	uint32_t seq = next_seq++;

	raw_hdr(r, GMEMFS_CTL_NLMSG_TYPE, NLM_F_REQUEST, seq);
	raw_put(r, &g, sizeof(g));
	return seq;
}

/* The reply to seq: its errno (0 for an answer), or 1 if broken. */
static int recv_reply(int s, uint32_t seq, struct gm_chan_msg *m, char *buf, size_t cap)
{
	char why[GM_CHAN_WHY_MAX];
	ssize_t n = recv(s, buf, cap, 0);

	if (n <= 0) {
		printf("#   no reply: %s\n", n ? strerror(errno) : "connection closed");
		return 1;
	}
	if (gm_chan_parse_reply(buf, n, seq, m, why)) {
		printf("#   bad reply: %s\n", why);
		return 1;
	}
	return m->error;
}

static void result(bool ok, const char *name)
{
	gm_test_report(ok, name, NULL);
	npass += ok;
}

/* A good request on the same connection still gets its answer. */
static bool still_usable(int s)
{
	static char buf[GMEMFS_CTL_MSG_MAX];
	struct gm_chan_msg m;
	struct raw r;
	uint32_t seq = raw_req(&r, GMEMFS_CTL_CMD_POOL, GMEMFS_GENL_VERSION);

	raw_fix(&r);
	return gm_chan_send(s, r.b, r.len, NULL, 0) == 0 &&
	       recv_reply(s, seq, &m, buf, sizeof(buf)) == 0 && m.tb[GMEMFS_CTL_A_POOL_BUDGET];
}

/* Send len bytes (seq: what the reply must echo), expect error want. */
static void expect(int s, const char *name, const void *buf, size_t len, uint32_t seq,
		   int want, const int *fds, unsigned nfds)
{
	static char rbuf[GMEMFS_CTL_MSG_MAX];
	struct gm_chan_msg m;
	int got;

	if (gm_chan_send(s, buf, len, fds, nfds)) {
		printf("#   send: %s\n", strerror(errno));
		result(false, name);
		return;
	}
	got = recv_reply(s, seq, &m, rbuf, sizeof(rbuf));
	if (got != want)
		printf("#   %s: got %s, want %s\n", name, got == 1 ? "no error reply" :
		       strerrorname_np(-got), strerrorname_np(-want));
	else if (!m.reason || !*m.reason)
		printf("#   %s: the error carries no reason\n", name);
	result(got == want && m.reason && *m.reason && still_usable(s), name);
}

static void expect_req(int s, const char *name, struct raw *r, uint32_t seq, int want)
{
	raw_fix(r);
	expect(s, name, r->b, r->len, seq, want, NULL, 0);
}

/* Framing: headers that are short, lie, or belong to something else. */
static void hostile_framing(int s)
{
	struct raw r;
	uint32_t seq;

	expect(s, "an empty packet", "", 0, 0, -EBADMSG, NULL, 0);
	expect(s, "8 bytes, a truncated header", "\x10\0\0\0\x47\x4d\x01\0", 8, 0, -EBADMSG,
	       NULL, 0);
	seq = raw_req(&r, GMEMFS_CTL_CMD_POOL, GMEMFS_GENL_VERSION);
	((struct nlmsghdr *)r.b)->nlmsg_len = r.len + 100;
	expect(s, "nlmsg_len longer than the packet", r.b, r.len, seq, -EBADMSG, NULL, 0);
	((struct nlmsghdr *)r.b)->nlmsg_len = NLMSG_HDRLEN;
	expect(s, "nlmsg_len shorter than the packet", r.b, r.len, seq, -EBADMSG, NULL, 0);
	raw_hdr(&r, NLMSG_MIN_TYPE, NLM_F_REQUEST, 7);
	raw_put(&r, "\x42\x01\0\0", 4);
	expect_req(s, "another netlink type", &r, 7, -EBADMSG);
	seq = raw_req(&r, GMEMFS_CTL_CMD_POOL, GMEMFS_GENL_VERSION);
	((struct nlmsghdr *)r.b)->nlmsg_flags = 0;
	expect_req(s, "no NLM_F_REQUEST", &r, seq, -EBADMSG);
	raw_hdr(&r, GMEMFS_CTL_NLMSG_TYPE, NLM_F_REQUEST, 8);
	expect_req(s, "no generic netlink header", &r, 8, -EBADMSG);
	seq = raw_req(&r, GMEMFS_CTL_CMD_POOL, 2);
	expect_req(s, "version 2", &r, seq, -EPROTO);
	seq = raw_req(&r, 99, GMEMFS_GENL_VERSION);
	expect_req(s, "unknown command 99", &r, seq, -EOPNOTSUPP);
	seq = raw_req(&r, 1, GMEMFS_GENL_VERSION);
	expect_req(s, "a kernel-channel command (1)", &r, seq, -EOPNOTSUPP);
	seq = raw_req(&r, 0, GMEMFS_GENL_VERSION);
	expect_req(s, "command 0", &r, seq, -EOPNOTSUPP);
}

/* A request of cmd with up to two attributes; what it must get. */
struct attr_case {
	const char *name;
	uint8_t cmd;
	struct {
		uint16_t type;
		const char *data;
		uint16_t len;
	} a[2];
	int want;
};

#define INFO	GMEMFS_CTL_CMD_INFO
#define PATH	GMEMFS_CTL_A_PATH
#define NESTED	NLA_F_NESTED

/* Attributes: missing, mistyped, oversized, repeated, nested garbage. */
static void hostile_attrs(int s)
{
	static char big[6000];
	static const struct attr_case cases[] = {
		{ "info without PATH", INFO, { { 0 } }, -EINVAL },
		{ "PATH without its NUL", INFO, { { PATH, "abcd", 4 } }, -EINVAL },
		{ "PATH with a NUL inside", INFO, { { PATH, "a\0b", 4 } }, -EINVAL },
		{ "PATH of 0 bytes", INFO, { { PATH, "", 0 } }, -EINVAL },
		{ "PATH of 6000 bytes", INFO, { { PATH, big, sizeof(big) } }, -ENAMETOOLONG },
		{ "FLAGS of 2 bytes", GMEMFS_CTL_CMD_OPEN,
		  { { PATH, "x", 2 }, { GMEMFS_CTL_A_FLAGS, "\1\0", 2 } }, -EINVAL },
		{ "unknown attribute 200", GMEMFS_CTL_CMD_POOL, { { 200, "\1\0\0", 4 } }, -EINVAL },
		{ "PATH on pool, which takes none", GMEMFS_CTL_CMD_POOL, { { PATH, "x", 2 } },
		  -EINVAL },
		{ "PATH twice", INFO, { { PATH, "x", 2 }, { PATH, "y", 2 } }, -EINVAL },
		{ "PATH flagged nested, garbage inside", INFO,
		  { { PATH | NESTED, "\x08\0\x01\0zzzz", 8 } }, -EINVAL },
		{ "a nest of garbage on info", INFO,
		  { { PATH, "x", 2 }, { GMEMFS_CTL_A_POOL_PROV | NESTED, "\xff\xff\x01\0\x03\0\0", 8 } },
		  -EINVAL },
	};
	struct raw r;
	uint32_t seq;

	memset(big, 'a', sizeof(big) - 1);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct attr_case *c = &cases[i];

		seq = raw_req(&r, c->cmd, GMEMFS_GENL_VERSION);
		for (unsigned k = 0; k < 2 && c->a[k].type; k++)
			raw_attr(&r, c->a[k].type, c->a[k].data, c->a[k].len);
		expect_req(s, c->name, &r, seq, c->want);
	}
	seq = raw_req(&r, INFO, GMEMFS_GENL_VERSION);
	raw_attr(&r, PATH, "x", 2);
	raw_put(&r, "\x40\0\x01\0", 4);	/* claims 64 bytes, 4 are there */
	expect_req(s, "an attribute longer than the message", &r, seq, -EINVAL);
	seq = raw_req(&r, INFO, GMEMFS_GENL_VERSION);
	raw_attr(&r, PATH, "x", 2);
	raw_put(&r, "\1\2\3", 3);
	expect_req(s, "3 bytes of garbage after the attributes", &r, seq, -EINVAL);
}

/* Sizes and counts meant to exhaust: many attributes, a huge packet. */
static void hostile_sizes(int s)
{
	static struct raw r;
	static char huge[40000];
	uint32_t seq;

	seq = raw_req(&r, GMEMFS_CTL_CMD_POOL, GMEMFS_GENL_VERSION);
	while (r.len + NLA_HDRLEN <= GMEMFS_CTL_MSG_MAX)
		raw_attr(&r, GMEMFS_CTL_A_FLAGS, "", 0);
	expect_req(s, "4000 empty attributes", &r, seq, -EINVAL);
	seq = raw_req(&r, GMEMFS_CTL_CMD_POOL, GMEMFS_GENL_VERSION);
	raw_fix(&r);
	memcpy(huge, r.b, r.len);
	((struct nlmsghdr *)huge)->nlmsg_len = sizeof(huge);
	expect(s, "a 40000-byte packet", huge, sizeof(huge), 0, -EMSGSIZE, NULL, 0);
}

/* An fd the daemon got must be closed by it: the read end of a pipe whose
 * write end only the daemon held sees EOF. */
static bool pipe_closed(int rd)
{
	char c;

	return read(rd, &c, 1) == 0;
}

static void hostile_fds(int s, const char *file)
{
	int p[5][2], w[5], devnull;
	struct raw r;
	uint32_t seq;
	bool closed = true;

	for (int i = 0; i < 5; i++) {
		if (pipe2(p[i], O_CLOEXEC | O_NONBLOCK)) {
			result(false, "pipes for the fd tests");
			return;
		}
		w[i] = p[i][1];
	}
	seq = raw_req(&r, GMEMFS_CTL_CMD_POOL, GMEMFS_GENL_VERSION);
	raw_fix(&r);
	expect(s, "an fd on pool, which takes none", r.b, r.len, seq, -EINVAL, w, 1);
	seq = raw_req(&r, GMEMFS_CTL_CMD_POOL, GMEMFS_GENL_VERSION);
	raw_fix(&r);
	expect(s, "5 fds on pool", r.b, r.len, seq, -EINVAL, w, 5);
	for (int i = 0; i < 5; i++) {
		close(p[i][1]);
		closed &= pipe_closed(p[i][0]);
		close(p[i][0]);
	}
	result(closed, "the daemon closed every fd it was sent");
	seq = raw_req(&r, GMEMFS_CTL_CMD_ATTACH_VM, GMEMFS_GENL_VERSION);
	raw_attr(&r, GMEMFS_CTL_A_PATH, file, strlen(file) + 1);
	expect_req(s, "attach-vm without an fd", &r, seq, -EBADF);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	seq = raw_req(&r, GMEMFS_CTL_CMD_ATTACH_VM, GMEMFS_GENL_VERSION);
	raw_attr(&r, GMEMFS_CTL_A_PATH, file, strlen(file) + 1);
	raw_fix(&r);
	expect(s, "attach-vm with /dev/null for a guest_memfd", r.b, r.len, seq, -EBADF, &devnull, 1);
	close(devnull);
}

/* Paths that try to leave the mount root. */
static void hostile_paths(int s)
{
	static const struct { const char *path; int err; } bad[] = {
		{ "..", -EINVAL }, { "a/../..", -EINVAL }, { "/etc/passwd", -EINVAL },
		{ "./../x", -EINVAL }, { "nonexistent", -ENOENT }, { ".gmemfs/stats", -EPERM },
	};
	char name[64];
	struct raw r;
	uint32_t seq;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		seq = raw_req(&r, GMEMFS_CTL_CMD_OPEN, GMEMFS_GENL_VERSION);
		raw_attr(&r, GMEMFS_CTL_A_PATH, bad[i].path, strlen(bad[i].path) + 1);
		snprintf(name, sizeof(name), "open '%s'", bad[i].path);
		expect_req(s, name, &r, seq, bad[i].err);
	}
}

/* Many requests sent before any reply is read: answered in order. */
static void pipelined(int s)
{
	static char buf[GMEMFS_CTL_MSG_MAX];
	struct gm_chan_msg m;
	uint32_t first = next_seq;
	struct raw r;
	bool ok = true;

	for (int i = 0; i < 50 && ok; i++) {
		raw_req(&r, GMEMFS_CTL_CMD_POOL, GMEMFS_GENL_VERSION);
		raw_fix(&r);
		ok = gm_chan_send(s, r.b, r.len, NULL, 0) == 0;
	}
	for (int i = 0; i < 50 && ok; i++)
		ok = recv_reply(s, first + i, &m, buf, sizeof(buf)) == 0;
	result(ok, "50 pipelined requests answered in order");
}

int gm_ctl_hostile(const char *sock, const char *file)
{
	struct timeval tv = { .tv_sec = 10 };
	struct sockaddr_un sa;
	socklen_t len;
	int s, dirfd;

	if (gm_chan_sockaddr(sock, &sa, &len, &dirfd))
		return 2;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, len) ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		perror("gm-ctl hostile: connect");
		return 2;
	}
	hostile_framing(s);
	hostile_attrs(s);
	hostile_sizes(s);
	hostile_fds(s, file);
	hostile_paths(s);
	pipelined(s);
	close(s);
	printf("%d passed, %d failed\n", npass, gm_test_failures);
	return gm_test_failures ? 1 : 0;
}
