/*
 * The control channel's codec (see chan.h): the attribute policy, what each
 * command's request carries, and strict parsing on top of libnl's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/chan.h"

#define U32(a)	[a] = { .type = NLA_U32, .minlen = 4, .maxlen = 4 }
#define U64(a)	[a] = { .type = NLA_U64, .minlen = 8, .maxlen = 8 }
#define STR(a, max)	[a] = { .type = NLA_STRING, .minlen = 1, .maxlen = (max) }

const struct nla_policy gm_chan_policy[GMEMFS_CTL_A_MAX + 1] = {
	STR(GMEMFS_CTL_A_PATH, PATH_MAX),
	STR(GMEMFS_CTL_A_POLICY, 32),
	U32(GMEMFS_CTL_A_FLAGS),
	STR(GMEMFS_CTL_A_NAME, NAME_MAX + 1),
	U32(GMEMFS_CTL_A_MODE),
	U32(GMEMFS_CTL_A_UID),
	U32(GMEMFS_CTL_A_GID),
	U64(GMEMFS_CTL_A_ID),
	U32(GMEMFS_CTL_A_PROVIDER),
	U64(GMEMFS_CTL_A_SIZE),
	U64(GMEMFS_CTL_A_POPULATED),
	U64(GMEMFS_CTL_A_PAGE_SIZE),
	U32(GMEMFS_CTL_A_INFO_FLAGS),
	U64(GMEMFS_CTL_A_POOL_BUDGET),
	U64(GMEMFS_CTL_A_POOL_USED),
	U64(GMEMFS_CTL_A_POOL_FREE),
	[GMEMFS_CTL_A_POOL_PROV] = { .type = NLA_NESTED },
	U64(GMEMFS_CTL_A_PROGRESS_DONE),
	U64(GMEMFS_CTL_A_PROGRESS_TOTAL),
	U64(GMEMFS_CTL_A_SNAP_BYTES),
	U64(GMEMFS_CTL_A_SNAP_PAGES),
	U64(GMEMFS_CTL_A_SNAP_EXTENTS),
	U64(GMEMFS_CTL_A_SNAP_NS),
	U64(GMEMFS_CTL_A_SNAP_SKIPPED),
	STR(GMEMFS_CTL_A_SNAP_PARENT, GMEMFS_SNAP_PARENT_MAX),
	[GMEMFS_CTL_A_REGION] = { .type = NLA_NESTED },
	U64(GMEMFS_CTL_A_SESSION),
	STR(GMEMFS_CTL_A_SOCKET, PATH_MAX),
	U32(GMEMFS_CTL_A_PID),
	U64(GMEMFS_CTL_A_SESS_FAULTS),
	U64(GMEMFS_CTL_A_SESS_PREFETCHED),
	U64(GMEMFS_CTL_A_SESS_BYTES),
	U32(GMEMFS_CTL_A_SESS_STATE),
	U64(GMEMFS_CTL_A_SESS_MINOR),
	U64(GMEMFS_CTL_A_SESS_CORRUPT),
	U64(GMEMFS_CTL_A_SESS_REMOVED),
	U64(GMEMFS_CTL_A_SESS_WS),
	U64(GMEMFS_CTL_A_SESS_LAT_P50),
	U64(GMEMFS_CTL_A_SESS_LAT_P99),
	U64(GMEMFS_CTL_A_SESS_UNIT),
	STR(GMEMFS_CTL_A_TEXT, GMEMFS_CTL_TEXT_MAX),
	U32(GMEMFS_CTL_A_RECORD_INTERVAL),
	U32(GMEMFS_CTL_A_RECORD_DURATION),
	U64(GMEMFS_CTL_A_RECORD_UNITS),
	U64(GMEMFS_CTL_A_POOL_SECRET_SIZE),
	U64(GMEMFS_CTL_A_POOL_SECRET_FREE),
};

const struct nla_policy gm_chan_region_policy[GMEMFS_CTL_REGION_A_MAX + 1] = {
	U64(GMEMFS_CTL_REGION_A_ADDR),
	U64(GMEMFS_CTL_REGION_A_SIZE),
	U64(GMEMFS_CTL_REGION_A_OFFSET),
	U64(GMEMFS_CTL_REGION_A_PAGE_SIZE),
};

const struct nla_policy gm_chan_prov_policy[GMEMFS_CTL_PROV_A_MAX + 1] = {
	U32(GMEMFS_CTL_PROV_A_ID),
	STR(GMEMFS_CTL_PROV_A_NAME, 32),
	U64(GMEMFS_CTL_PROV_A_PAGE_SIZE),
	U64(GMEMFS_CTL_PROV_A_USED),
	U64(GMEMFS_CTL_PROV_A_LIMIT),
};

static const char *const gm_chan_attr_names[GMEMFS_CTL_A_MAX + 1] = {
	[GMEMFS_CTL_A_PATH] = "PATH", [GMEMFS_CTL_A_POLICY] = "POLICY",
	[GMEMFS_CTL_A_FLAGS] = "FLAGS", [GMEMFS_CTL_A_NAME] = "NAME",
	[GMEMFS_CTL_A_MODE] = "MODE", [GMEMFS_CTL_A_UID] = "UID",
	[GMEMFS_CTL_A_GID] = "GID", [GMEMFS_CTL_A_ID] = "ID",
	[GMEMFS_CTL_A_PROVIDER] = "PROVIDER", [GMEMFS_CTL_A_SIZE] = "SIZE",
	[GMEMFS_CTL_A_POPULATED] = "POPULATED", [GMEMFS_CTL_A_PAGE_SIZE] = "PAGE_SIZE",
	[GMEMFS_CTL_A_INFO_FLAGS] = "INFO_FLAGS", [GMEMFS_CTL_A_POOL_BUDGET] = "POOL_BUDGET",
	[GMEMFS_CTL_A_POOL_USED] = "POOL_USED", [GMEMFS_CTL_A_POOL_FREE] = "POOL_FREE",
	[GMEMFS_CTL_A_POOL_PROV] = "POOL_PROV",
	[GMEMFS_CTL_A_PROGRESS_DONE] = "PROGRESS_DONE",
	[GMEMFS_CTL_A_PROGRESS_TOTAL] = "PROGRESS_TOTAL",
	[GMEMFS_CTL_A_SNAP_BYTES] = "SNAP_BYTES", [GMEMFS_CTL_A_SNAP_PAGES] = "SNAP_PAGES",
	[GMEMFS_CTL_A_SNAP_EXTENTS] = "SNAP_EXTENTS", [GMEMFS_CTL_A_SNAP_NS] = "SNAP_NS",
	[GMEMFS_CTL_A_SNAP_SKIPPED] = "SNAP_SKIPPED", [GMEMFS_CTL_A_SNAP_PARENT] = "SNAP_PARENT", [GMEMFS_CTL_A_REGION] = "REGION",
	[GMEMFS_CTL_A_SESSION] = "SESSION", [GMEMFS_CTL_A_SOCKET] = "SOCKET",
	[GMEMFS_CTL_A_PID] = "PID", [GMEMFS_CTL_A_SESS_FAULTS] = "SESS_FAULTS",
	[GMEMFS_CTL_A_SESS_PREFETCHED] = "SESS_PREFETCHED",
	[GMEMFS_CTL_A_SESS_BYTES] = "SESS_BYTES", [GMEMFS_CTL_A_SESS_STATE] = "SESS_STATE",
	[GMEMFS_CTL_A_SESS_MINOR] = "SESS_MINOR", [GMEMFS_CTL_A_SESS_CORRUPT] = "SESS_CORRUPT",
	[GMEMFS_CTL_A_SESS_REMOVED] = "SESS_REMOVED", [GMEMFS_CTL_A_SESS_WS] = "SESS_WS",
	[GMEMFS_CTL_A_SESS_LAT_P50] = "SESS_LAT_P50", [GMEMFS_CTL_A_SESS_LAT_P99] = "SESS_LAT_P99",
	[GMEMFS_CTL_A_SESS_UNIT] = "SESS_UNIT", [GMEMFS_CTL_A_TEXT] = "TEXT",
	[GMEMFS_CTL_A_RECORD_INTERVAL] = "RECORD_INTERVAL",
	[GMEMFS_CTL_A_RECORD_DURATION] = "RECORD_DURATION",
	[GMEMFS_CTL_A_RECORD_UNITS] = "RECORD_UNITS",
	[GMEMFS_CTL_A_POOL_SECRET_SIZE] = "POOL_SECRET_SIZE",
	[GMEMFS_CTL_A_POOL_SECRET_FREE] = "POOL_SECRET_FREE",
};

/* Attributes a request may carry more than once. */
#define GM_CHAN_REPEATABLE	GM_CHAN_BIT(GMEMFS_CTL_A_REGION)

#define A(x)	GM_CHAN_BIT(GMEMFS_CTL_A_##x)
#define CMD(c)	[GMEMFS_CTL_CMD_##c - GMEMFS_CTL_CMD_FIRST]

static const struct gm_chan_cmd_spec gm_chan_cmds[] = {
	CMD(OPEN) = { "open", A(PATH), A(PATH) | A(FLAGS), 0, 0, false },
	CMD(INFO) = { "info", A(PATH), A(PATH), 0, 0, false },
	CMD(POOL) = { "pool", 0, 0, 0, 0, false },
	CMD(POLICY_GET) = { "policy-get", A(PATH), A(PATH), 0, 0, false },
	CMD(POLICY_SET) = { "policy-set", A(PATH) | A(POLICY), A(PATH) | A(POLICY), 0, 0, false },
	CMD(ATTACH_VM) = { "attach-vm", A(PATH), A(PATH) | A(FLAGS), 1, 1, false },
	CMD(LIST) = { "list", 0, A(PATH), 0, 0, true },
	CMD(SNAPSHOT) = { "snapshot", A(PATH), A(PATH) | A(FLAGS) | A(SNAP_PARENT), 2, GM_CHAN_CHAIN_FDS, false },
	CMD(RESTORE) = { "restore", A(PATH), A(PATH) | A(FLAGS), 2, GM_CHAN_CHAIN_FDS, false },
	/* REGIONs and the uffd, or neither (ask mode: PATH, a shim file). */
	CMD(RESTORE_LAZY) = { "restore-lazy", 0, A(REGION) | A(PATH) | A(FLAGS),
			      2, 1 + GM_CHAN_CHAIN_FDS, false },
	CMD(UFFD_LISTEN) = { "uffd-listen", A(SOCKET), A(SOCKET) | A(FLAGS),
			     2, GM_CHAN_CHAIN_FDS, false },
	CMD(SESSIONS) = { "sessions", 0, 0, 0, 0, true },
	CMD(METRICS) = { "metrics", 0, 0, 0, 0, true },
	/* REGION and the uffd (arm), or neither (record). */
	CMD(RECORD_WS) = { "record-ws", A(PATH), A(PATH) | A(REGION) | A(RECORD_INTERVAL) |
			   A(RECORD_DURATION), 0, 1, false },
	CMD(RESUME_LAZY) = { "resume-lazy", A(SESSION), A(SESSION), 1, 1, false },
};
_Static_assert(GMEMFS_CTL_A_MAX < 64, "attribute masks are 64 bits");

const struct gm_chan_cmd_spec *gm_chan_cmd(unsigned cmd)
{
	unsigned i = cmd - GMEMFS_CTL_CMD_FIRST;

	if (cmd < GMEMFS_CTL_CMD_FIRST || i >= sizeof(gm_chan_cmds) / sizeof(gm_chan_cmds[0]))
		return NULL;
	return gm_chan_cmds[i].name ? &gm_chan_cmds[i] : NULL;
}

const char *gm_chan_attr_name(unsigned type)
{
	return type <= GMEMFS_CTL_A_MAX && gm_chan_attr_names[type] ?
	       gm_chan_attr_names[type] : "?";
}

#define WHY(...) snprintf(why, GM_CHAN_WHY_MAX, __VA_ARGS__)

/* One attribute against the policy, with a reason libnl would not give. */
static int gm_chan_check_one(const struct nlattr *nla, const struct nla_policy *pt,
			     char why[GM_CHAN_WHY_MAX])
{
	unsigned type = nla_type(nla);
	int len = nla_len(nla);
	const char *s = nla_data(nla);

	if (nla->nla_type & NLA_F_NET_BYTEORDER ||
	    (nla->nla_type & NLA_F_NESTED && pt->type != NLA_NESTED)) {
		WHY("attribute %s: flags 0x%x not allowed", gm_chan_attr_name(type),
		    nla->nla_type & ~NLA_TYPE_MASK);
		return -EINVAL;
	}
	if (pt->minlen && len < pt->minlen) {
		WHY("attribute %s: %d bytes, want at least %u", gm_chan_attr_name(type), len,
		    pt->minlen);
		return -EINVAL;
	}
	if (pt->maxlen && len > pt->maxlen) {
		WHY("attribute %s: %d bytes, at most %u allowed", gm_chan_attr_name(type), len,
		    pt->maxlen);
		return type == GMEMFS_CTL_A_PATH ? -ENAMETOOLONG : -EINVAL;
	}
	if (pt->type == NLA_STRING && strnlen(s, len) != (size_t)len - 1) {
		WHY("attribute %s: not one NUL-terminated string", gm_chan_attr_name(type));
		return -EINVAL;
	}
	return 0;
}

/* Every attribute of a request: allowed for the command, once, well-formed,
 * and nothing after the last one. */
static int gm_chan_check_attrs(struct nlattr *head, int len,
			       const struct gm_chan_cmd_spec *spec, char why[GM_CHAN_WHY_MAX])
{
	uint64_t seen = 0;
	struct nlattr *nla;
	int rem, err;

	nla_for_each_attr(nla, head, len, rem) {
		unsigned type = nla_type(nla);

		if (type == 0 || type > GMEMFS_CTL_A_MAX || !(spec->allowed & GM_CHAN_BIT(type))) {
			WHY("%s takes no attribute %u (%s)", spec->name, type,
			    gm_chan_attr_name(type));
			return -EINVAL;
		}
		if (seen & GM_CHAN_BIT(type) & ~GM_CHAN_REPEATABLE) {
			WHY("attribute %s given twice", gm_chan_attr_name(type));
			return -EINVAL;
		}
		seen |= GM_CHAN_BIT(type);
		err = gm_chan_check_one(nla, &gm_chan_policy[type], why);
		if (err)
			return err;
	}
	if (rem != 0) {
		WHY("%d bytes after the last whole attribute", rem);
		return -EINVAL;
	}
	for (unsigned a = 1; a <= GMEMFS_CTL_A_MAX; a++) {
		if (spec->required & ~seen & GM_CHAN_BIT(a)) {
			WHY("%s needs attribute %s", spec->name, gm_chan_attr_name(a));
			return -EINVAL;
		}
	}
	return 0;
}

/* The netlink header: exactly one whole message in the packet. */
static int gm_chan_check_header(void *buf, size_t len, struct gm_chan_msg *m,
				char why[GM_CHAN_WHY_MAX])
{
	struct nlmsghdr *nlh = buf;

	memset(m, 0, sizeof(*m));
	if (len > GMEMFS_CTL_MSG_MAX) {
		WHY("%zu bytes: longer than the %d a message may have", len, GMEMFS_CTL_MSG_MAX);
		return -EMSGSIZE;
	}
	if (len < NLMSG_HDRLEN) {
		WHY("%zu bytes: shorter than a netlink header", len);
		return -EBADMSG;
	}
	m->nlh = nlh;
	m->seq = nlh->nlmsg_seq;
	if (nlh->nlmsg_len != len) {
		WHY("header says %u bytes, the packet has %zu", nlh->nlmsg_len, len);
		return -EBADMSG;
	}
	return 0;
}

/* The generic netlink header of a message of our type. */
static int gm_chan_check_genl(struct gm_chan_msg *m, char why[GM_CHAN_WHY_MAX])
{
	struct genlmsghdr *g;

	if (m->nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) {
		WHY("no generic netlink header");
		return -EBADMSG;
	}
	g = nlmsg_data(m->nlh);
	if (g->version != GMEMFS_GENL_VERSION) {
		WHY("version %u, this daemon speaks %u", g->version, GMEMFS_GENL_VERSION);
		return -EPROTO;
	}
	m->cmd = g->cmd;
	return 0;
}

int gm_chan_parse_request(void *buf, size_t len, struct gm_chan_msg *m,
			  char why[GM_CHAN_WHY_MAX])
{
	const struct gm_chan_cmd_spec *spec;
	int err;

	err = gm_chan_check_header(buf, len, m, why);
	if (err)
		return err;
	err = -EBADMSG;
	if (m->nlh->nlmsg_type != GMEMFS_CTL_NLMSG_TYPE || !(m->nlh->nlmsg_flags & NLM_F_REQUEST)) {
		WHY("type 0x%x flags 0x%x: not a gmemfs control request",
		    m->nlh->nlmsg_type, m->nlh->nlmsg_flags);
		return err;
	}
	err = gm_chan_check_genl(m, why);
	if (err)
		return err;
	spec = gm_chan_cmd(m->cmd);
	if (!spec) {
		WHY("command %u is unknown", m->cmd);
		return -EOPNOTSUPP;
	}
	err = gm_chan_check_attrs(genlmsg_attrdata(nlmsg_data(m->nlh), 0),
				  genlmsg_attrlen(nlmsg_data(m->nlh), 0), spec, why);
	if (err)
		return err;
	/* libnl's own policy check, and it fills tb. */
	if (genlmsg_parse(m->nlh, 0, m->tb, GMEMFS_CTL_A_MAX,
			  (struct nla_policy *)gm_chan_policy) < 0) {
		WHY("attributes do not match the policy");
		return -EINVAL;
	}
	return 0;
}

static int gm_chan_parse_error(struct gm_chan_msg *m, char why[GM_CHAN_WHY_MAX])
{
	struct nlmsgerr *e = nlmsg_data(m->nlh);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int off = NLMSG_ALIGN(sizeof(*e));

	if (m->nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e) || e->error > 0) {
		WHY("malformed error reply");
		return -EBADMSG;
	}
	m->error = e->error;
	if (!(m->nlh->nlmsg_flags & NLM_F_ACK_TLVS) || !(m->nlh->nlmsg_flags & NLM_F_CAPPED))
		return 0;
	if (nlmsg_parse(m->nlh, off, tb, NLMSGERR_ATTR_MAX, NULL) < 0)
		return 0;	/* the errno stands without a reason */
	if (tb[NLMSGERR_ATTR_MSG] && nla_len(tb[NLMSGERR_ATTR_MSG]) > 0 &&
	    strnlen(nla_data(tb[NLMSGERR_ATTR_MSG]), nla_len(tb[NLMSGERR_ATTR_MSG])) <
	    (size_t)nla_len(tb[NLMSGERR_ATTR_MSG]))
		m->reason = nla_data(tb[NLMSGERR_ATTR_MSG]);
	return 0;
}

int gm_chan_parse_reply(void *buf, size_t len, uint32_t seq, struct gm_chan_msg *m,
			char why[GM_CHAN_WHY_MAX])
{
	struct nlattr *head;
	int err, alen, rem;
	struct nlattr *nla;

	err = gm_chan_check_header(buf, len, m, why);
	if (err)
		return err;
	err = -EBADMSG;
	if (m->seq != seq) {
		WHY("reply to request %u, expected %u", m->seq, seq);
		return err;
	}
	m->multi = m->nlh->nlmsg_flags & NLM_F_MULTI;
	if (m->nlh->nlmsg_type == NLMSG_ERROR)
		return gm_chan_parse_error(m, why);
	if (m->nlh->nlmsg_type == NLMSG_DONE) {
		m->done = true;
		return 0;
	}
	if (m->nlh->nlmsg_type != GMEMFS_CTL_NLMSG_TYPE) {
		WHY("reply of type 0x%x", m->nlh->nlmsg_type);
		return err;
	}
	err = gm_chan_check_genl(m, why);
	if (err)
		return err;
	head = genlmsg_attrdata(nlmsg_data(m->nlh), 0);
	alen = genlmsg_attrlen(nlmsg_data(m->nlh), 0);
	nla_for_each_attr(nla, head, alen, rem) {
		unsigned type = nla_type(nla);

		if (type == 0 || type > GMEMFS_CTL_A_MAX)
			continue;	/* a newer daemon's: ignored */
		err = gm_chan_check_one(nla, &gm_chan_policy[type], why);
		if (err)
			return -EBADMSG;
	}
	if (rem != 0 || nla_parse(m->tb, GMEMFS_CTL_A_MAX, head, alen,
				  (struct nla_policy *)gm_chan_policy) < 0) {
		WHY("reply attributes are malformed");
		return -EBADMSG;
	}
	return 0;
}

int gm_chan_parse_prov(struct nlattr *nest, struct nlattr *tb[GMEMFS_CTL_PROV_A_MAX + 1])
{
	char why[GM_CHAN_WHY_MAX];
	struct nlattr *nla;
	int rem;

	nla_for_each_nested(nla, nest, rem) {
		unsigned type = nla_type(nla);

		if (type > 0 && type <= GMEMFS_CTL_PROV_A_MAX &&
		    gm_chan_check_one(nla, &gm_chan_prov_policy[type], why))
			return -EBADMSG;
	}
	if (rem != 0 || nla_parse_nested(tb, GMEMFS_CTL_PROV_A_MAX, nest,
					 (struct nla_policy *)gm_chan_prov_policy) < 0)
		return -EBADMSG;
	return 0;
}

int gm_chan_parse_region(struct nlattr *nest, uint64_t out[GMEMFS_CTL_REGION_A_MAX + 1],
			 char why[GM_CHAN_WHY_MAX])
{
	unsigned seen = 0;
	struct nlattr *nla;
	int rem;

	nla_for_each_nested(nla, nest, rem) {
		unsigned type = nla_type(nla);

		if (type == 0 || type > GMEMFS_CTL_REGION_A_MAX || seen & (1u << type) ||
		    nla->nla_type & ~NLA_TYPE_MASK || nla_len(nla) != 8) {
			WHY("REGION: attribute %u unknown, repeated or not a u64", type);
			return -EINVAL;
		}
		seen |= 1u << type;
		out[type] = nla_get_u64(nla);
	}
	if (rem != 0 || seen != ((1u << (GMEMFS_CTL_REGION_A_MAX + 1)) - 2)) {
		WHY("REGION: needs exactly ADDR, SIZE, OFFSET and PAGE_SIZE");
		return -EINVAL;
	}
	return 0;
}

struct nl_msg *gm_chan_new(unsigned cmd, uint32_t seq, int flags)
{
	struct nl_msg *msg = nlmsg_alloc_size(GMEMFS_CTL_MSG_MAX);

	if (msg && !genlmsg_put(msg, 0, seq, GMEMFS_CTL_NLMSG_TYPE, 0, flags, cmd,
				GMEMFS_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

struct nl_msg *gm_chan_new_error(const struct nlmsghdr *req, uint32_t seq, int err,
				 const char *reason)
{
	struct nl_msg *msg = nlmsg_alloc_size(GMEMFS_CTL_MSG_MAX);
	struct nlmsgerr *e;

	if (!msg)
		return NULL;
	if (!nlmsg_put(msg, 0, seq, NLMSG_ERROR, sizeof(*e),
		       NLM_F_CAPPED | (reason ? NLM_F_ACK_TLVS : 0)))
		goto err_free;
	e = nlmsg_data(nlmsg_hdr(msg));
	e->error = err;
	if (req)
		e->msg = *req;
	else
		e->msg.nlmsg_seq = seq;
	if (reason && nla_put_string(msg, NLMSGERR_ATTR_MSG, reason) < 0)
		goto err_free;
	return msg;
err_free:
	nlmsg_free(msg);
	return NULL;
}

struct nl_msg *gm_chan_new_done(uint32_t seq)
{
	struct nl_msg *msg = nlmsg_alloc_size(NLMSG_HDRLEN + sizeof(int));
	int *status;

	if (!msg)
		return NULL;
	if (!nlmsg_put(msg, 0, seq, NLMSG_DONE, sizeof(int), NLM_F_MULTI)) {
		nlmsg_free(msg);
		return NULL;
	}
	status = nlmsg_data(nlmsg_hdr(msg));
	*status = 0;
	return msg;
}

int gm_chan_sockaddr(const char *path, struct sockaddr_un *sa, socklen_t *len, int *dirfd)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	*dirfd = -1;
	if (strlen(path) < sizeof(sa->sun_path)) {
		strcpy(sa->sun_path, path);
		goto out;
	}
	if (!slash || slash == path)
		return -ENAMETOOLONG;
	dir = strndup(path, slash - path);
	if (!dir)
		return -ENOMEM;
	*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (*dirfd < 0)
		return -errno;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dirfd,
		     slash + 1);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		close(*dirfd);
		*dirfd = -1;
		return -ENAMETOOLONG;
	}
out:
	*len = offsetof(struct sockaddr_un, sun_path) + strlen(sa->sun_path) + 1;
	return 0;
}

int gm_chan_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	/* Room for more fds than a packet may carry: tests send too many. */
	union {
		char buf[CMSG_SPACE(2 * GM_CHAN_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds > 2 * GM_CHAN_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

ssize_t gm_chan_recv(int sock, void *buf, size_t cap, int fds[GM_CHAN_MAX_FDS],
		     unsigned *nfds, bool *cut)
{
	union {
		char buf[CMSG_SPACE(GM_CHAN_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	ssize_t n;

	*nfds = 0;
	/* MSG_TRUNC: the real length of a packet too long for buf. */
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*cut = mh.msg_flags & MSG_CTRUNC;
	*nfds = gm_chan_take_fds(&mh, fds, GM_CHAN_MAX_FDS);
	return n;
}

unsigned gm_chan_take_fds(struct msghdr *mh, int *fds, unsigned max)
{
	unsigned n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (n < max)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

int gm_chan_clear_stale(const char *path, int type)
{
	struct sockaddr_un sa;
	struct stat st;
	socklen_t len;
	int fd, dirfd, err;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	err = gm_chan_sockaddr(path, &sa, &len, &dirfd);
	if (err)
		return err;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	err = fd < 0 ? -errno : 0;
	if (!err && connect(fd, (struct sockaddr *)&sa, len) == 0)
		err = -EADDRINUSE;
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	if (!err && unlink(path) && errno != ENOENT)
		err = -errno;
	return err;
}
