/*
 * The kernel channel's codec on libnl-genl: see shim_client.h.  The command
 * socket carries requests and their replies; a second socket joins the
 * "events" multicast group, so a NOTIFY never lands in the middle of a
 * request's reply.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "gmemfs_nl.h"
#include "common/shim_client.h"

/* Large enough for a 2M page of POPULATE data. */
#define GM_SHIMC_SNDBUF	(4 << 20)
#define GM_SHIMC_DATA_CHUNK	(32 << 10)

struct gm_shimc {
	struct nl_sock *cmd;
	struct nl_sock *ev;
	int family;
	char errmsg[128];	/* extack of the last request */
};

/* What a request's reply is parsed into. */
struct gm_shimc_call {
	struct gm_shimc *nl;
	int err;		/* kernel's errno; 1 while waiting */
	int (*parse)(struct gm_shimc_call *call, struct nlattr **tb,
		     struct nlmsghdr *nlh);
	void *arg;
	int n, max;		/* ACCEPT: events filled, room */
	uint32_t lost;
};

static struct nla_policy gm_shimc_event_policy[GMEMFS_SHIM_A_MAX + 1] = {
	[GMEMFS_SHIM_A_EVENT_TYPE] = { .type = NLA_U32 },
	[GMEMFS_SHIM_A_FILE_ID] = { .type = NLA_U32 },
	[GMEMFS_SHIM_A_OFFSET] = { .type = NLA_U64 },
	[GMEMFS_SHIM_A_LENGTH] = { .type = NLA_U64 },
	[GMEMFS_SHIM_A_PAGES] = { .type = NLA_U64 },
	[GMEMFS_SHIM_A_FLAGS] = { .type = NLA_U32 },
	[GMEMFS_SHIM_A_REQ_ID] = { .type = NLA_U32 },
	[GMEMFS_SHIM_A_UID] = { .type = NLA_U32 },
	[GMEMFS_SHIM_A_PID] = { .type = NLA_U32 },
};

const char *gm_shimc_errmsg(const struct gm_shimc *nl)
{
	return nl->errmsg;
}

static int gm_shimc_valid_cb(struct nl_msg *msg, void *arg)
{
	struct gm_shimc_call *call = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[GMEMFS_SHIM_A_MAX + 1];

	if (genlmsg_parse(nlh, 0, tb, GMEMFS_SHIM_A_MAX, NULL) < 0) {
		call->err = -EPROTO;
		return NL_STOP;
	}
	if (call->parse && call->parse(call, tb, nlh) < 0)
		call->err = -EPROTO;
	return NL_OK;
}

/* The extack message, if the kernel sent one (NLM_F_ACK_TLVS). */
static void gm_shimc_extack(struct gm_shimc *nl, struct nlmsghdr *nlh,
			    struct nlmsgerr *e)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t skip = sizeof(*e);
	struct nlattr *attrs;
	int len;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		skip += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	len = (int)nlh->nlmsg_len - (int)NLMSG_HDRLEN - (int)skip;
	if (len <= 0)
		return;
	attrs = (struct nlattr *)((char *)e + skip);
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, attrs, len, NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		nla_strlcpy(nl->errmsg, tb[NLMSGERR_ATTR_MSG], sizeof(nl->errmsg));
	else if (tb[NLMSGERR_ATTR_MISS_TYPE])
		snprintf(nl->errmsg, sizeof(nl->errmsg), "missing attribute %u",
			 nla_get_u32(tb[NLMSGERR_ATTR_MISS_TYPE]));
}

static int gm_shimc_err_cb(struct sockaddr_nl *who, struct nlmsgerr *e,
			   void *arg)
{
	struct gm_shimc_call *call = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)e - 1;

	(void)who;
	call->err = e->error;
	if (e->error)
		gm_shimc_extack(call->nl, nlh, e);
	return NL_STOP;
}

static int gm_shimc_ack_cb(struct nl_msg *msg, void *arg)
{
	struct gm_shimc_call *call = arg;

	(void)msg;
	call->err = 0;
	return NL_STOP;
}

/* Receive until the ack (or error) of the request just sent. */
static int gm_shimc_wait(struct gm_shimc *nl, struct gm_shimc_call *call)
{
	struct nl_cb *cb;
	int err;

	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, gm_shimc_valid_cb, call);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, gm_shimc_ack_cb, call);
	nl_cb_err(cb, NL_CB_CUSTOM, gm_shimc_err_cb, call);
	call->err = 1;
	while (call->err == 1) {
		err = nl_recvmsgs(nl->cmd, cb);
		if (err < 0 && call->err == 1)
			call->err = -EIO;
	}
	nl_cb_put(cb);
	return call->err;
}

static int gm_shimc_call(struct gm_shimc *nl, struct nl_msg *msg,
			 struct gm_shimc_call *call)
{
	int err;

	nl->errmsg[0] = '\0';
	call->nl = nl;
	err = nl_send_auto(nl->cmd, msg);
	nlmsg_free(msg);
	if (err < 0)
		return err == -NLE_MSGSIZE ? -EMSGSIZE : -EIO;
	return gm_shimc_wait(nl, call);
}

struct nl_msg *gm_shimc_msg(struct gm_shimc *nl, uint8_t cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0,
			 NLM_F_ACK, cmd, GMEMFS_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

int gm_shimc_send(struct gm_shimc *nl, struct nl_msg *msg)
{
	struct gm_shimc_call call = { 0 };

	return gm_shimc_call(nl, msg, &call);
}

int gm_shimc_send_raw(struct gm_shimc *nl, const void *buf, size_t len)
{
	struct gm_shimc_call call = { 0 };
	struct nlmsghdr *nlh;
	int err;

	if (len < sizeof(*nlh))
		return -EINVAL;
	nlh = malloc(len);
	if (!nlh)
		return -ENOMEM;
	memcpy(nlh, buf, len);
	/* libnl drops replies whose sequence number it did not hand out. */
	nlh->nlmsg_seq = nl_socket_use_seq(nl->cmd);
	nl->errmsg[0] = '\0';
	call.nl = nl;
	err = nl_sendto(nl->cmd, nlh, len);
	free(nlh);
	if (err < 0)
		return -EIO;
	return gm_shimc_wait(nl, &call);
}

/* A u32 or u64 attribute for gm_shimc_build(). */
struct gm_shimc_put {
	uint16_t type;
	bool u64;
	uint64_t v;
};

/* A request of cmd with these attributes; NULL without memory. */
static struct nl_msg *gm_shimc_build(struct gm_shimc *nl, uint8_t cmd,
				     const struct gm_shimc_put *a, size_t n)
{
	struct nl_msg *msg = gm_shimc_msg(nl, cmd);

	for (size_t i = 0; msg && i < n; i++) {
		if (a[i].u64 ? nla_put_u64(msg, a[i].type, a[i].v) :
			       nla_put_u32(msg, a[i].type, (uint32_t)a[i].v)) {
			nlmsg_free(msg);
			msg = NULL;
		}
	}
	return msg;
}

static int gm_shimc_simple(struct gm_shimc *nl, uint8_t cmd)
{
	struct nl_msg *msg = gm_shimc_msg(nl, cmd);

	return msg ? gm_shimc_send(nl, msg) : -ENOMEM;
}

int gm_shimc_register(struct gm_shimc *nl)
{
	return gm_shimc_simple(nl, GMEMFS_SHIM_CMD_REGISTER);
}

int gm_shimc_register_token(struct gm_shimc *nl, const void *token, size_t len)
{
	struct nl_msg *msg = gm_shimc_msg(nl, GMEMFS_SHIM_CMD_REGISTER);

	if (msg && nla_put(msg, GMEMFS_SHIM_A_TOKEN, (int)len, token)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg ? gm_shimc_send(nl, msg) : -ENOMEM;
}

int gm_shimc_unregister(struct gm_shimc *nl)
{
	return gm_shimc_simple(nl, GMEMFS_SHIM_CMD_UNREGISTER);
}

static int gm_shimc_parse_created(struct gm_shimc_call *call, struct nlattr **tb,
				  struct nlmsghdr *nlh)
{
	uint32_t *out = call->arg;

	(void)nlh;
	if (!tb[GMEMFS_SHIM_A_FILE_ID] || !tb[GMEMFS_SHIM_A_FD])
		return -EPROTO;
	out[0] = nla_get_u32(tb[GMEMFS_SHIM_A_FILE_ID]);
	out[1] = nla_get_u32(tb[GMEMFS_SHIM_A_FD]);
	return 0;
}

/* CREATE or OPEN: a request whose reply is a file id and a new fd. */
static int gm_shimc_call_fd(struct gm_shimc *nl, uint8_t cmd,
			    const struct gm_shimc_put *a, size_t n,
			    uint32_t *id, int *fd)
{
	uint32_t out[2] = { 0, (uint32_t)-1 };
	struct gm_shimc_call call = { .parse = gm_shimc_parse_created, .arg = out };
	struct nl_msg *msg;
	int err;

	msg = gm_shimc_build(nl, cmd, a, n);
	if (!msg)
		return -ENOMEM;
	err = gm_shimc_call(nl, msg, &call);
	if (err)
		return err;
	*id = out[0];
	*fd = (int)out[1];
	return 0;
}

int gm_shimc_create(struct gm_shimc *nl, uint64_t size, uint32_t flags,
		    uint32_t order, uint32_t mode, uint32_t *id, int *fd)
{
	return gm_shimc_create_named(nl, size, flags, order, mode, 0, id, fd);
}

int gm_shimc_create_named(struct gm_shimc *nl, uint64_t size, uint32_t flags,
			  uint32_t order, uint32_t mode, uint64_t cookie,
			  uint32_t *id, int *fd)
{
	const struct gm_shimc_put a[] = {
		{ GMEMFS_SHIM_A_SIZE, true, size },
		{ GMEMFS_SHIM_A_FLAGS, false, flags },
		{ GMEMFS_SHIM_A_PAGE_ORDER, false, order },
		{ GMEMFS_SHIM_A_FAULT_MODE, false, mode },
		{ GMEMFS_SHIM_A_COOKIE, true, cookie },
	};

	return gm_shimc_call_fd(nl, GMEMFS_SHIM_CMD_CREATE, a, 5, id, fd);
}

int gm_shimc_reopen(struct gm_shimc *nl, uint32_t file_id, int *fd)
{
	const struct gm_shimc_put a[] = { { GMEMFS_SHIM_A_FILE_ID, false, file_id } };
	uint32_t id;

	return gm_shimc_call_fd(nl, GMEMFS_SHIM_CMD_OPEN, a, 1, &id, fd);
}

int gm_shimc_delete(struct gm_shimc *nl, uint32_t file_id)
{
	const struct gm_shimc_put a[] = { { GMEMFS_SHIM_A_FILE_ID, false, file_id } };
	struct nl_msg *msg = gm_shimc_build(nl, GMEMFS_SHIM_CMD_DELETE, a, 1);

	return msg ? gm_shimc_send(nl, msg) : -ENOMEM;
}

static struct nla_policy gm_shimc_file_policy[GMEMFS_SHIM_A_MAX + 1] = {
	[GMEMFS_SHIM_A_FILE_ID] = { .type = NLA_U32 },
	[GMEMFS_SHIM_A_SIZE] = { .type = NLA_U64 },
	[GMEMFS_SHIM_A_PAGE_ORDER] = { .type = NLA_U32 },
	[GMEMFS_SHIM_A_FAULT_MODE] = { .type = NLA_U32 },
	[GMEMFS_SHIM_A_PAGES] = { .type = NLA_U64 },
	[GMEMFS_SHIM_A_COOKIE] = { .type = NLA_U64 },
	[GMEMFS_SHIM_A_FLAGS] = { .type = NLA_U32 },
};

static int gm_shimc_parse_files(struct gm_shimc_call *call, struct nlattr **tb,
				struct nlmsghdr *nlh)
{
	struct nlattr *tbf[GMEMFS_SHIM_A_MAX + 1];
	struct gm_shimc_file *out = call->arg;
	struct nlattr *a;
	int rem;

	(void)tb;
	nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(nlh), 0),
			  genlmsg_attrlen(nlmsg_data(nlh), 0), rem) {
		if (nla_type(a) != GMEMFS_SHIM_A_FILE)
			continue;
		if (call->n >= call->max)
			return -EPROTO;	/* a reply never holds more (shim_client.h) */
		if (nla_parse_nested(tbf, GMEMFS_SHIM_A_MAX, a, gm_shimc_file_policy) < 0 ||
		    !tbf[GMEMFS_SHIM_A_FILE_ID] || !tbf[GMEMFS_SHIM_A_SIZE] ||
		    !tbf[GMEMFS_SHIM_A_PAGE_ORDER] || !tbf[GMEMFS_SHIM_A_FAULT_MODE] ||
		    !tbf[GMEMFS_SHIM_A_PAGES] || !tbf[GMEMFS_SHIM_A_COOKIE])
			return -EPROTO;
		out[call->n++] = (struct gm_shimc_file){
			.id = nla_get_u32(tbf[GMEMFS_SHIM_A_FILE_ID]),
			.order = nla_get_u32(tbf[GMEMFS_SHIM_A_PAGE_ORDER]),
			.mode = nla_get_u32(tbf[GMEMFS_SHIM_A_FAULT_MODE]),
			.size = nla_get_u64(tbf[GMEMFS_SHIM_A_SIZE]),
			.pages = nla_get_u64(tbf[GMEMFS_SHIM_A_PAGES]),
			.cookie = nla_get_u64(tbf[GMEMFS_SHIM_A_COOKIE]),
			/* A module older than SECRET sends none: no flag set. */
			.flags = tbf[GMEMFS_SHIM_A_FLAGS] ?
				 nla_get_u32(tbf[GMEMFS_SHIM_A_FLAGS]) : 0,
		};
	}
	return 0;
}

int gm_shimc_list(struct gm_shimc *nl, uint32_t first, struct gm_shimc_file *files,
		  int max)
{
	const struct gm_shimc_put a[] = { { GMEMFS_SHIM_A_FILE_ID, false, first } };
	struct gm_shimc_call call = { .parse = gm_shimc_parse_files, .arg = files,
				     .max = max };
	struct nl_msg *msg = gm_shimc_build(nl, GMEMFS_SHIM_CMD_LIST, a, 1);
	int err;

	if (!msg)
		return -ENOMEM;
	err = gm_shimc_call(nl, msg, &call);
	return err ? err : call.n;
}

static int gm_shimc_parse_info(struct gm_shimc_call *call, struct nlattr **tb,
			       struct nlmsghdr *nlh)
{
	uint64_t *out = call->arg;

	(void)nlh;
	if (!tb[GMEMFS_SHIM_A_CARVE_PAGES] || !tb[GMEMFS_SHIM_A_CARVE_FREE] ||
	    nla_len(tb[GMEMFS_SHIM_A_CARVE_PAGES]) != 8 ||
	    nla_len(tb[GMEMFS_SHIM_A_CARVE_FREE]) != 8)
		return -EPROTO;
	out[0] = nla_get_u64(tb[GMEMFS_SHIM_A_CARVE_PAGES]);
	out[1] = nla_get_u64(tb[GMEMFS_SHIM_A_CARVE_FREE]);
	call->n = 1;
	return 0;
}

int gm_shimc_info(struct gm_shimc *nl, uint64_t *carve_pages, uint64_t *carve_free)
{
	uint64_t out[2] = { 0, 0 };
	struct gm_shimc_call call = { .parse = gm_shimc_parse_info, .arg = out };
	struct nl_msg *msg = gm_shimc_msg(nl, GMEMFS_SHIM_CMD_INFO);
	int err;

	if (!msg)
		return -ENOMEM;
	err = gm_shimc_call(nl, msg, &call);
	if (!err && !call.n)
		err = -EPROTO;	/* acked without the figures */
	if (err)
		return err;
	*carve_pages = out[0];
	*carve_free = out[1];
	return 0;
}

static int gm_shimc_parse_events(struct gm_shimc_call *call, struct nlattr **tb,
				 struct nlmsghdr *nlh)
{
	struct nlattr *tbe[GMEMFS_SHIM_A_MAX + 1];
	struct gm_shimc_event *out = call->arg, *ev;
	struct nlattr *a;
	int rem;

	if (tb[GMEMFS_SHIM_A_LOST])
		call->lost += nla_get_u32(tb[GMEMFS_SHIM_A_LOST]);
	nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(nlh), 0),
			  genlmsg_attrlen(nlmsg_data(nlh), 0), rem) {
		if (nla_type(a) != GMEMFS_SHIM_A_EVENT)
			continue;
		if (call->n >= call->max)
			return -EPROTO;	/* a reply never holds more (shim_client.h) */
		if (nla_parse_nested(tbe, GMEMFS_SHIM_A_MAX, a,
				     gm_shimc_event_policy) < 0 ||
		    !tbe[GMEMFS_SHIM_A_EVENT_TYPE] || !tbe[GMEMFS_SHIM_A_FILE_ID])
			return -EPROTO;
		ev = &out[call->n++];
		*ev = (struct gm_shimc_event){
			.type = nla_get_u32(tbe[GMEMFS_SHIM_A_EVENT_TYPE]),
			.file_id = nla_get_u32(tbe[GMEMFS_SHIM_A_FILE_ID]),
		};
		if (tbe[GMEMFS_SHIM_A_OFFSET])
			ev->offset = nla_get_u64(tbe[GMEMFS_SHIM_A_OFFSET]);
		if (tbe[GMEMFS_SHIM_A_LENGTH])
			ev->length = nla_get_u64(tbe[GMEMFS_SHIM_A_LENGTH]);
		if (tbe[GMEMFS_SHIM_A_PAGES])
			ev->pages = nla_get_u64(tbe[GMEMFS_SHIM_A_PAGES]);
		if (tbe[GMEMFS_SHIM_A_FLAGS])
			ev->flags = nla_get_u32(tbe[GMEMFS_SHIM_A_FLAGS]);
		if (tbe[GMEMFS_SHIM_A_REQ_ID])
			ev->req_id = nla_get_u32(tbe[GMEMFS_SHIM_A_REQ_ID]);
		if (tbe[GMEMFS_SHIM_A_UID])
			ev->uid = nla_get_u32(tbe[GMEMFS_SHIM_A_UID]);
		if (tbe[GMEMFS_SHIM_A_PID])
			ev->pid = nla_get_u32(tbe[GMEMFS_SHIM_A_PID]);
	}
	return 0;
}

int gm_shimc_accept(struct gm_shimc *nl, struct gm_shimc_event *ev, int max,
		    uint32_t *lost)
{
	struct gm_shimc_call call = { .parse = gm_shimc_parse_events, .arg = ev,
				     .max = max };
	struct nl_msg *msg;
	int err;

	msg = gm_shimc_msg(nl, GMEMFS_SHIM_CMD_ACCEPT);
	if (!msg)
		return -ENOMEM;
	err = gm_shimc_call(nl, msg, &call);
	if (err)
		return err;
	if (lost)
		*lost = call.lost;
	return call.n;
}

/* One small attribute at buf: its aligned length. */
static size_t gm_shimc_attr(unsigned char *buf, uint16_t type, const void *val, uint16_t len)
{
	struct nlattr a = { .nla_len = NLA_HDRLEN + len, .nla_type = type };

	memcpy(buf, &a, sizeof(a));
	memcpy(buf + NLA_HDRLEN, val, len);
	return NLA_ALIGN(NLA_HDRLEN + len);
}

/* A POPULATE's header and small attributes, then for each DATA piece its
 * header, a pointer to its bytes and its padding, as sendmsg() takes them. */
struct gm_shimc_pop {
	struct nlmsghdr n;
	struct genlmsghdr g;
	unsigned char attrs[64];
	size_t niov, total;
	struct nlattr *data;	/* one per piece */
	struct iovec iov[];	/* 1 + 3 per piece */
};

/* DATA pieces pointing at the caller's bytes: no copy (an attribute holds
 * less than 64K, so a 2M page goes in pieces). */
static void gm_shimc_pop_data(struct gm_shimc_pop *p, const void *data, size_t len)
{
	static const char pad[NLA_ALIGNTO];

	for (size_t off = 0, i = 0; off < len; off += GM_SHIMC_DATA_CHUNK, i++) {
		size_t n = len - off < GM_SHIMC_DATA_CHUNK ? len - off : GM_SHIMC_DATA_CHUNK;

		p->data[i] = (struct nlattr){ .nla_len = NLA_HDRLEN + n,
					      .nla_type = GMEMFS_SHIM_A_DATA };
		p->iov[p->niov++] = (struct iovec){ &p->data[i], NLA_HDRLEN };
		p->iov[p->niov++] = (struct iovec){ (char *)data + off, n };
		if (NLA_ALIGN(n) != n)
			p->iov[p->niov++] = (struct iovec){ (void *)pad, NLA_ALIGN(n) - n };
		p->total += NLA_HDRLEN + NLA_ALIGN(n);
	}
}

/*
 * POPULATE with data, gathered by sendmsg() from where the bytes lie: a
 * unit of a lazy restore is sent without being copied into a message
 * first (nor the large buffer allocated and freed for each).
 */
static int gm_shimc_populate_data(struct gm_shimc *nl, uint32_t file_id, uint64_t offset,
				  const void *data, size_t len, uint32_t req_id)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct gm_shimc_call call = { .nl = nl };
	size_t pieces = len / GM_SHIMC_DATA_CHUNK + 1, pos = 0;
	struct gm_shimc_pop *p;
	struct msghdr mh;
	int err;

	/* The kernel judges the length (at most 2M); sendmsg() the size. */
	if (1 + 3 * pieces > IOV_MAX)
		return -EMSGSIZE;
	p = calloc(1, sizeof(*p) + (1 + 3 * pieces) * sizeof(p->iov[0]) +
		      pieces * sizeof(p->data[0]));
	if (!p)
		return -ENOMEM;
	p->data = (struct nlattr *)&p->iov[1 + 3 * pieces];
	pos += gm_shimc_attr(p->attrs + pos, GMEMFS_SHIM_A_FILE_ID, &file_id, 4);
	pos += gm_shimc_attr(p->attrs + pos, GMEMFS_SHIM_A_OFFSET, &offset, 8);
	if (req_id)
		pos += gm_shimc_attr(p->attrs + pos, GMEMFS_SHIM_A_REQ_ID, &req_id, 4);
	p->total = NLMSG_HDRLEN + GENL_HDRLEN + pos;
	p->iov[p->niov++] = (struct iovec){ &p->n, p->total };
	gm_shimc_pop_data(p, data, len);
	p->n = (struct nlmsghdr){ .nlmsg_len = p->total, .nlmsg_type = nl->family,
				  .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
				  .nlmsg_seq = nl_socket_use_seq(nl->cmd),
				  .nlmsg_pid = nl_socket_get_local_port(nl->cmd) };
	p->g = (struct genlmsghdr){ .cmd = GMEMFS_SHIM_CMD_POPULATE,
				    .version = GMEMFS_GENL_VERSION };
	mh = (struct msghdr){ .msg_name = &kernel, .msg_namelen = sizeof(kernel),
			      .msg_iov = p->iov, .msg_iovlen = p->niov };
	nl->errmsg[0] = '\0';
	err = sendmsg(nl_socket_get_fd(nl->cmd), &mh, 0) < 0 ? -errno : 0;
	free(p);
	return err ? err : gm_shimc_wait(nl, &call);
}

int gm_shimc_populate(struct gm_shimc *nl, uint32_t file_id, uint64_t offset,
		      const void *data, size_t len, uint32_t req_id)
{
	struct nl_msg *msg;
	int bad;

	if (data)
		return gm_shimc_populate_data(nl, file_id, offset, data, len, req_id);
	msg = gm_shimc_msg(nl, GMEMFS_SHIM_CMD_POPULATE);
	if (!msg)
		return -ENOMEM;
	bad = nla_put_u32(msg, GMEMFS_SHIM_A_FILE_ID, file_id) ||
	      nla_put_u64(msg, GMEMFS_SHIM_A_OFFSET, offset) ||
	      (req_id && nla_put_u32(msg, GMEMFS_SHIM_A_REQ_ID, req_id)) ||
	      nla_put_u32(msg, GMEMFS_SHIM_A_FLAGS, GMEMFS_SHIM_POPULATE_ZERO) ||
	      (len && nla_put_u64(msg, GMEMFS_SHIM_A_LENGTH, len));
	if (bad) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return gm_shimc_send(nl, msg);
}

int gm_shimc_done(struct gm_shimc *nl, uint32_t req_id, int status)
{
	const struct gm_shimc_put a[] = {
		{ GMEMFS_SHIM_A_REQ_ID, false, req_id },
		{ GMEMFS_SHIM_A_STATUS, false, (uint32_t)-status },
	};
	struct nl_msg *msg = gm_shimc_build(nl, GMEMFS_SHIM_CMD_DONE, a, 2);

	return msg ? gm_shimc_send(nl, msg) : -ENOMEM;
}

int gm_shimc_set_mode(struct gm_shimc *nl, uint32_t file_id, uint32_t mode)
{
	const struct gm_shimc_put a[] = {
		{ GMEMFS_SHIM_A_FILE_ID, false, file_id },
		{ GMEMFS_SHIM_A_FAULT_MODE, false, mode },
	};
	struct nl_msg *msg = gm_shimc_build(nl, GMEMFS_SHIM_CMD_SET_MODE, a, 2);

	return msg ? gm_shimc_send(nl, msg) : -ENOMEM;
}

int gm_shimc_set_order(struct gm_shimc *nl, uint32_t file_id, uint64_t offset,
		       uint64_t length, uint32_t order)
{
	const struct gm_shimc_put a[] = {
		{ GMEMFS_SHIM_A_FILE_ID, false, file_id },
		{ GMEMFS_SHIM_A_OFFSET, true, offset },
		{ GMEMFS_SHIM_A_LENGTH, true, length },
		{ GMEMFS_SHIM_A_PAGE_ORDER, false, order },
	};
	struct nl_msg *msg = gm_shimc_build(nl, GMEMFS_SHIM_CMD_SET_ORDER, a, 4);

	return msg ? gm_shimc_send(nl, msg) : -ENOMEM;
}

int gm_shimc_set_limit(struct gm_shimc *nl, uint64_t pages)
{
	const struct gm_shimc_put a[] = {
		{ GMEMFS_SHIM_A_PAGES, true, pages },
	};
	struct nl_msg *msg = gm_shimc_build(nl, GMEMFS_SHIM_CMD_SET_LIMIT, a, 1);

	return msg ? gm_shimc_send(nl, msg) : -ENOMEM;
}

int gm_shimc_notify_fd(const struct gm_shimc *nl)
{
	return nl_socket_get_fd(nl->ev);
}

static int gm_shimc_count_cb(struct nl_msg *msg, void *arg)
{
	struct genlmsghdr *g = nlmsg_data(nlmsg_hdr(msg));

	if (g->cmd == GMEMFS_SHIM_CMD_NOTIFY)
		++*(int *)arg;
	return NL_OK;
}

int gm_shimc_notify_drain(struct gm_shimc *nl)
{
	int n = 0, err;

	nl_socket_modify_cb(nl->ev, NL_CB_VALID, NL_CB_CUSTOM, gm_shimc_count_cb, &n);
	do {
		err = nl_recvmsgs_default(nl->ev);
	} while (err >= 0);
	return (err == -NLE_AGAIN || err == -NLE_INTR) ? n : -EIO;
}

static struct nl_sock *gm_shimc_sock(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	int one = 1, buf = GM_SHIMC_SNDBUF;

	if (!sk)
		return NULL;
	if (genl_connect(sk) < 0) {
		nl_socket_free(sk);
		return NULL;
	}
	/* The kernel's reason for a refusal comes back as extack text. */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	/* Acks carry no copy of the request: a POPULATE's is up to 2M. */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));
	/* Best effort: only root may pass wmem_max. */
	setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_SNDBUFFORCE,
		   &buf, sizeof(buf));
	return sk;
}

int gm_shimc_open(struct gm_shimc **out)
{
	struct gm_shimc *nl;
	int err, grp;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	err = -ENOMEM;
	nl->cmd = gm_shimc_sock();
	nl->ev = gm_shimc_sock();
	if (!nl->cmd || !nl->ev)
		goto err;
	err = -ENOENT;	/* no module, or it would not load */
	nl->family = genl_ctrl_resolve(nl->cmd, GMEMFS_GENL_NAME);
	if (nl->family < 0)
		goto err;
	grp = genl_ctrl_resolve_grp(nl->cmd, GMEMFS_GENL_NAME,
				    GMEMFS_GENL_MCGRP_EVENTS);
	if (grp < 0)
		goto err;
	err = -EPERM;
	if (nl_socket_add_membership(nl->ev, grp) < 0)
		goto err;
	nl_socket_disable_seq_check(nl->ev);
	nl_socket_set_nonblocking(nl->ev);
	*out = nl;
	return 0;

err:
	gm_shimc_close(nl);
	return err;
}

void gm_shimc_close(struct gm_shimc *nl)
{
	if (!nl)
		return;
	if (nl->cmd)
		nl_socket_free(nl->cmd);
	if (nl->ev)
		nl_socket_free(nl->ev);
	free(nl);
}
