/* Unit tests of the control channel's codec (common/chan.c): requests it
 * accepts, every way it refuses one, and replies as a client reads them. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chan.h"
#include "suites.h"

/* A request for cmd, as the client library builds it. */
static struct nl_msg *req(unsigned cmd, const char *path)
{
	struct nl_msg *msg = gm_chan_new(cmd, 42, NLM_F_REQUEST);

	ck_assert_ptr_nonnull(msg);
	if (path)
		ck_assert_int_eq(nla_put_string(msg, GMEMFS_CTL_A_PATH, path), 0);
	return msg;
}

/* Parse msg as a request: the errno, with why in *why. */
static int parse(struct nl_msg *msg, struct gm_chan_msg *m, char *why)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	return gm_chan_parse_request(nlh, nlh->nlmsg_len, m, why);
}

static int parse_free(struct nl_msg *msg, char *why)
{
	struct gm_chan_msg m;
	int err = parse(msg, &m, why);

	nlmsg_free(msg);
	return err;
}

START_TEST(test_request_round_trip)
{
	struct nl_msg *msg = req(GMEMFS_CTL_CMD_OPEN, "vms/vm1.ram");
	char why[GM_CHAN_WHY_MAX];
	struct gm_chan_msg m;

	ck_assert_int_eq(nla_put_u32(msg, GMEMFS_CTL_A_FLAGS, 0), 0);
	ck_assert_int_eq(parse(msg, &m, why), 0);
	ck_assert_uint_eq(m.cmd, GMEMFS_CTL_CMD_OPEN);
	ck_assert_uint_eq(m.seq, 42);
	ck_assert_str_eq(nla_get_string(m.tb[GMEMFS_CTL_A_PATH]), "vms/vm1.ram");
	ck_assert_ptr_nonnull(m.tb[GMEMFS_CTL_A_FLAGS]);
	nlmsg_free(msg);
}
END_TEST

START_TEST(test_command_table)
{
	for (unsigned c = 0; c < 256; c++) {
		const struct gm_chan_cmd_spec *s = gm_chan_cmd(c);

		ck_assert_msg(!!s == (c >= GMEMFS_CTL_CMD_OPEN && c <= GMEMFS_CTL_CMD_MAX),
			      "command %u", c);
		if (s)
			ck_assert_msg((s->required & ~s->allowed) == 0, "%s", s->name);
	}
}
END_TEST

START_TEST(test_missing_attribute)
{
	char why[GM_CHAN_WHY_MAX];

	ck_assert_int_eq(parse_free(req(GMEMFS_CTL_CMD_INFO, NULL), why), -EINVAL);
	ck_assert_str_eq(why, "info needs attribute PATH");
	ck_assert_int_eq(parse_free(req(GMEMFS_CTL_CMD_POLICY_SET, "f"), why), -EINVAL);
	ck_assert_str_eq(why, "policy-set needs attribute POLICY");
	ck_assert_int_eq(parse_free(req(GMEMFS_CTL_CMD_LIST, NULL), why), 0);
}
END_TEST

START_TEST(test_unknown_command_and_version)
{
	struct nl_msg *msg = req(GMEMFS_CTL_CMD_MAX + 1, NULL);
	char why[GM_CHAN_WHY_MAX];

	ck_assert_int_eq(parse_free(msg, why), -EOPNOTSUPP);
	ck_assert_ptr_nonnull(strstr(why, "unknown"));
	msg = req(GMEMFS_CTL_CMD_POOL, NULL);
	((struct genlmsghdr *)nlmsg_data(nlmsg_hdr(msg)))->version = 9;
	ck_assert_int_eq(parse_free(msg, why), -EPROTO);
}
END_TEST

START_TEST(test_truncated_and_oversized)
{
	struct nl_msg *msg = req(GMEMFS_CTL_CMD_INFO, "abc");
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	char why[GM_CHAN_WHY_MAX];
	struct gm_chan_msg m;

	ck_assert_int_eq(gm_chan_parse_request(nlh, 0, &m, why), -EBADMSG);
	ck_assert_ptr_null(m.nlh);
	ck_assert_int_eq(gm_chan_parse_request(nlh, NLMSG_HDRLEN - 1, &m, why), -EBADMSG);
	/* Cut inside the attributes: the header no longer matches the packet. */
	ck_assert_int_eq(gm_chan_parse_request(nlh, nlh->nlmsg_len - 4, &m, why), -EBADMSG);
	ck_assert_uint_eq(m.seq, 42);	/* the error reply can still echo it */
	ck_assert_int_eq(gm_chan_parse_request(nlh, GMEMFS_CTL_MSG_MAX + 1, &m, why),
			 -EMSGSIZE);
	/* Header and packet agree on a length that leaves no genl header. */
	nlh->nlmsg_len = NLMSG_HDRLEN;
	ck_assert_int_eq(gm_chan_parse_request(nlh, NLMSG_HDRLEN, &m, why), -EBADMSG);
	nlmsg_free(msg);
}
END_TEST

START_TEST(test_wrong_type_and_flags)
{
	struct nl_msg *msg = req(GMEMFS_CTL_CMD_POOL, NULL);
	char why[GM_CHAN_WHY_MAX];

	nlmsg_hdr(msg)->nlmsg_type = NLMSG_MIN_TYPE;
	ck_assert_int_eq(parse_free(msg, why), -EBADMSG);
	msg = req(GMEMFS_CTL_CMD_POOL, NULL);
	nlmsg_hdr(msg)->nlmsg_flags = 0;
	ck_assert_int_eq(parse_free(msg, why), -EBADMSG);
}
END_TEST

START_TEST(test_bad_attributes)
{
	static char longpath[PATH_MAX + 10];
	struct nl_msg *msg;
	char why[GM_CHAN_WHY_MAX];
	uint16_t two = 0;

	msg = req(GMEMFS_CTL_CMD_OPEN, "f");
	nla_put(msg, GMEMFS_CTL_A_FLAGS, sizeof(two), &two);
	ck_assert_int_eq(parse_free(msg, why), -EINVAL);
	ck_assert_str_eq(why, "attribute FLAGS: 2 bytes, want at least 4");

	msg = req(GMEMFS_CTL_CMD_INFO, NULL);
	nla_put(msg, GMEMFS_CTL_A_PATH, 3, "abc");
	ck_assert_int_eq(parse_free(msg, why), -EINVAL);
	ck_assert_str_eq(why, "attribute PATH: not one NUL-terminated string");

	msg = req(GMEMFS_CTL_CMD_INFO, NULL);
	nla_put(msg, GMEMFS_CTL_A_PATH, 4, "a\0b");
	ck_assert_int_eq(parse_free(msg, why), -EINVAL);

	memset(longpath, 'x', sizeof(longpath) - 1);
	ck_assert_int_eq(parse_free(req(GMEMFS_CTL_CMD_INFO, longpath), why), -ENAMETOOLONG);

	msg = req(GMEMFS_CTL_CMD_INFO, "a");
	nla_put_string(msg, GMEMFS_CTL_A_PATH, "b");
	ck_assert_int_eq(parse_free(msg, why), -EINVAL);
	ck_assert_str_eq(why, "attribute PATH given twice");

	msg = req(GMEMFS_CTL_CMD_INFO, "a");
	nla_put_u32(msg, GMEMFS_CTL_A_MODE, 0);	/* a reply attribute */
	ck_assert_int_eq(parse_free(msg, why), -EINVAL);
	ck_assert_str_eq(why, "info takes no attribute 5 (MODE)");

	msg = req(GMEMFS_CTL_CMD_INFO, NULL);
	nla_put(msg, GMEMFS_CTL_A_PATH | NLA_F_NESTED, 2, "a");
	ck_assert_int_eq(parse_free(msg, why), -EINVAL);
}
END_TEST

START_TEST(test_trailing_bytes)
{
	struct nl_msg *msg = req(GMEMFS_CTL_CMD_INFO, "a");
	char why[GM_CHAN_WHY_MAX];

	/* nlmsg_append pads: add a header-less 4-byte tail by hand. */
	ck_assert_int_eq(nlmsg_append(msg, "\1\0\0\0", 4, 0), 0);
	ck_assert_int_eq(parse_free(msg, why), -EINVAL);
	ck_assert_str_eq(why, "4 bytes after the last whole attribute");
}
END_TEST

START_TEST(test_error_reply)
{
	struct nl_msg *r = req(GMEMFS_CTL_CMD_OPEN, "f");
	struct nl_msg *e = gm_chan_new_error(nlmsg_hdr(r), 42, -EACCES, "uid 7 may not");
	char why[GM_CHAN_WHY_MAX];
	struct gm_chan_msg m;
	struct nlmsghdr *nlh;

	ck_assert_ptr_nonnull(e);
	nlh = nlmsg_hdr(e);
	ck_assert_int_eq(gm_chan_parse_reply(nlh, nlh->nlmsg_len, 42, &m, why), 0);
	ck_assert_int_eq(m.error, -EACCES);
	ck_assert_str_eq(m.reason, "uid 7 may not");
	ck_assert_int_eq(gm_chan_parse_reply(nlh, nlh->nlmsg_len, 43, &m, why), -EBADMSG);
	nlmsg_free(e);
	nlmsg_free(r);
	e = gm_chan_new_done(5);
	nlh = nlmsg_hdr(e);
	ck_assert_int_eq(gm_chan_parse_reply(nlh, nlh->nlmsg_len, 5, &m, why), 0);
	ck_assert(m.done && m.multi);
	nlmsg_free(e);
}
END_TEST

START_TEST(test_pool_reply)
{
	struct nl_msg *msg = gm_chan_new(GMEMFS_CTL_CMD_POOL, 3, 0);
	struct nlattr *tb[GMEMFS_CTL_PROV_A_MAX + 1], *nest, *nla;
	char why[GM_CHAN_WHY_MAX];
	struct gm_chan_msg m;
	int rem, n = 0;

	nla_put_u64(msg, GMEMFS_CTL_A_POOL_BUDGET, 1 << 30);
	for (int i = 0; i < 2; i++) {
		nest = nla_nest_start(msg, GMEMFS_CTL_A_POOL_PROV);
		nla_put_u32(msg, GMEMFS_CTL_PROV_A_ID, i + 1);
		nla_put_string(msg, GMEMFS_CTL_PROV_A_NAME, i ? "shmem-thp" : "shmem-4k");
		nla_nest_end(msg, nest);
	}
	nla_put_u32(msg, 60, 0);	/* a newer daemon's attribute: ignored */
	ck_assert_int_eq(gm_chan_parse_reply(nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len, 3, &m,
					     why), 0);
	ck_assert_uint_eq(nla_get_u64(m.tb[GMEMFS_CTL_A_POOL_BUDGET]), 1 << 30);
	nlmsg_for_each_attr(nla, m.nlh, GENL_HDRLEN, rem) {
		if (nla_type(nla) != GMEMFS_CTL_A_POOL_PROV)
			continue;
		ck_assert_int_eq(gm_chan_parse_prov(nla, tb), 0);
		ck_assert_uint_eq(nla_get_u32(tb[GMEMFS_CTL_PROV_A_ID]), ++n);
	}
	ck_assert_int_eq(n, 2);
	nlmsg_free(msg);
}
END_TEST

START_TEST(test_prov_nest_garbage)
{
	struct nl_msg *msg = gm_chan_new(GMEMFS_CTL_CMD_POOL, 3, 0);
	struct nlattr *tb[GMEMFS_CTL_PROV_A_MAX + 1];
	struct nlattr *nest;

	nest = nla_nest_start(msg, GMEMFS_CTL_A_POOL_PROV);
	nla_put(msg, GMEMFS_CTL_PROV_A_ID, 2, "xx");	/* a u32 of 2 bytes */
	nla_nest_end(msg, nest);
	ck_assert_int_eq(gm_chan_parse_prov(nest, tb), -EBADMSG);
	nlmsg_free(msg);
}
END_TEST

START_TEST(test_sockaddr)
{
	char path[300];
	struct sockaddr_un sa;
	socklen_t len;
	int dirfd;

	ck_assert_int_eq(gm_chan_sockaddr("/run/x.sock", &sa, &len, &dirfd), 0);
	ck_assert_str_eq(sa.sun_path, "/run/x.sock");
	ck_assert_int_eq(dirfd, -1);
	/* Too long for sun_path: reached through the directory's fd. */
	snprintf(path, sizeof(path), "/%0200d/../tmp/x.sock", 0);
	ck_assert_int_eq(gm_chan_sockaddr(path, &sa, &len, &dirfd), -ENOENT);
	snprintf(path, sizeof(path), "/tmp/%s/../x.sock", "/////////////////////////////"
		 "//////////////////////////////////////////////////////////////////////////"
		 "////////////////");
	ck_assert_int_eq(gm_chan_sockaddr(path, &sa, &len, &dirfd), 0);
	ck_assert_int_ge(dirfd, 0);
	ck_assert_ptr_nonnull(strstr(sa.sun_path, "/proc/self/fd/"));
	close(dirfd);
}
END_TEST

Suite *make_chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_request_round_trip);
	tcase_add_test(tc, test_command_table);
	tcase_add_test(tc, test_missing_attribute);
	tcase_add_test(tc, test_unknown_command_and_version);
	tcase_add_test(tc, test_truncated_and_oversized);
	tcase_add_test(tc, test_wrong_type_and_flags);
	tcase_add_test(tc, test_bad_attributes);
	tcase_add_test(tc, test_trailing_bytes);
	tcase_add_test(tc, test_error_reply);
	tcase_add_test(tc, test_pool_reply);
	tcase_add_test(tc, test_prov_nest_garbage);
	tcase_add_test(tc, test_sockaddr);
	suite_add_tcase(s, tc);
	return s;
}
