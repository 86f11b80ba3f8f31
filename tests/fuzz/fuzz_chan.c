/*
 * fuzz-chan: a deterministic mutation fuzzer for the control channel's
 * parsers (common/chan.c), self-contained so it runs with gcc in both of
 * `make check`'s builds: under ASan+UBSan any read outside the message
 * aborts it; in both, a message the parser accepts must satisfy what the
 * command handlers rely on, or it exits 1 printing the message in hex.
 *
 * Seeds are valid requests of every command and valid replies; each round
 * takes one and applies 1-8 mutations (bit flips, interesting values at
 * random offsets, length fields bent, truncation, extension, spliced
 * attributes).  Every input is parsed from an exact-size heap copy, so an
 * over-read by even one byte is caught.
 *
 * Usage: fuzz-chan [--seed N] [--iterations N] [--seconds S]
 * Bounded by whichever of --iterations (default 200000) and --seconds
 * (default 20) comes first.  Exit: 0 clean, 1 invariant broken, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/chan.h"
#include "common/clock.h"

#define NSEEDS_MAX 32

struct seed {
	unsigned char *buf;
	size_t len;
};

static struct seed seeds[NSEEDS_MAX];
static unsigned nseeds;
static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic for a given --seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static unsigned rndn(unsigned n)
{
	return n ? rnd() % n : 0;
}

static void add_seed(struct nl_msg *msg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	if (nseeds < NSEEDS_MAX) {
		seeds[nseeds].len = nlh->nlmsg_len;
		seeds[nseeds].buf = malloc(nlh->nlmsg_len);
		memcpy(seeds[nseeds].buf, nlh, nlh->nlmsg_len);
		nseeds++;
	}
	nlmsg_free(msg);
}

static struct nl_msg *seed_req(unsigned cmd, const char *path, const char *policy)
{
	struct nl_msg *msg = gm_chan_new(cmd, 1, NLM_F_REQUEST);

	if (path)
		nla_put_string(msg, GMEMFS_CTL_A_PATH, path);
	if (policy)
		nla_put_string(msg, GMEMFS_CTL_A_POLICY, policy);
	return msg;
}

static void make_seeds(void)
{
	struct nl_msg *msg;
	struct nlattr *nest;

	for (unsigned c = GMEMFS_CTL_CMD_FIRST; c <= GMEMFS_CTL_CMD_MAX; c++)
		add_seed(seed_req(c, "dir/file.ram", c == GMEMFS_CTL_CMD_POLICY_SET ? "4k" : NULL));
	msg = seed_req(GMEMFS_CTL_CMD_OPEN, "a", NULL);
	nla_put_u32(msg, GMEMFS_CTL_A_FLAGS, 0);
	add_seed(msg);
	msg = gm_chan_new(GMEMFS_CTL_CMD_POOL, 1, 0);
	nla_put_u64(msg, GMEMFS_CTL_A_POOL_BUDGET, 1 << 30);
	nest = nla_nest_start(msg, GMEMFS_CTL_A_POOL_PROV);
	nla_put_u32(msg, GMEMFS_CTL_PROV_A_ID, 1);
	nla_put_string(msg, GMEMFS_CTL_PROV_A_NAME, "shmem-4k");
	nla_put_u64(msg, GMEMFS_CTL_PROV_A_LIMIT, 4096);
	nla_nest_end(msg, nest);
	add_seed(msg);
	msg = gm_chan_new(GMEMFS_CTL_CMD_LIST, 1, NLM_F_MULTI);
	nla_put_string(msg, GMEMFS_CTL_A_NAME, "vm.ram");
	nla_put_u32(msg, GMEMFS_CTL_A_MODE, 0100644);
	nla_put_u64(msg, GMEMFS_CTL_A_SIZE, 1 << 20);
	add_seed(msg);
	add_seed(gm_chan_new_error(NULL, 1, -EACCES, "a reason"));
	add_seed(gm_chan_new_done(1));
}

static void put16(unsigned char *b, size_t len, size_t off, uint16_t v)
{
	if (off + 2 <= len)
		memcpy(b + off, &v, 2);
}

static void put32(unsigned char *b, size_t len, size_t off, uint32_t v)
{
	if (off + 4 <= len)
		memcpy(b + off, &v, 4);
}

/* One mutation of b (len bytes, room for cap); returns the new length. */
static size_t mutate(unsigned char *b, size_t len, size_t cap)
{
	static const uint32_t interesting[] = { 0, 1, 3, 4, 5, 7, 8, 15, 16, 20, 0x7f, 0x80,
						0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
						0x7fffffff, 0x80000000, 0xffffffff };
	size_t off = rndn(len ? len : 1);
	uint32_t v = interesting[rndn(sizeof(interesting) / sizeof(interesting[0]))];

	switch (rndn(9)) {
	case 0:
		if (len)
			b[off] ^= 1u << rndn(8);
		break;
	case 1:
		if (len)
			b[off] = v;
		break;
	case 2:
		put16(b, len, off & ~1UL, v);	/* an nla_len or nla_type, likely */
		break;
	case 3:
		put32(b, len, off & ~3UL, v);
		break;
	case 4:	/* bend the netlink length, or the first attribute's */
		put32(b, len, 0, rndn(2) ? v : (uint32_t)len + rndn(9) - 4);
		put16(b, len, NLMSG_HDRLEN + GENL_HDRLEN, rndn(2) ? v : rndn(64));
		break;
	case 5:	/* truncate */
		len = rndn(len + 1);
		break;
	case 6:	/* extend with random bytes */
		for (unsigned n = 1 + rndn(64); n-- && len < cap; )
			b[len++] = rnd();
		break;
	case 7: {	/* splice a slice of the message onto its end */
		size_t from = rndn(len + 1), n = rndn(len - from + 1);

		if (len + n <= cap) {
			memmove(b + len, b + from, n);
			len += n;
		}
		break;
	}
	default: {	/* append an attribute of random type and claimed length */
		uint16_t hdr[2] = { (uint16_t)rndn(80), (uint16_t)rndn(40) };

		hdr[1] |= rndn(4) == 0 ? NLA_F_NESTED : 0;
		if (len + 4 + 8 <= cap) {
			memcpy(b + len, hdr, 4);
			for (int i = 0; i < 8; i++)
				b[len + 4 + i] = rnd();
			len += 4 + rndn(9);
		}
		break;
	}
	}
	if (len >= 4 && rndn(2))
		put32(b, len, 0, len);	/* keep the header honest half the time */
	return len;
}

static void dump(const char *what, const unsigned char *b, size_t len)
{
	fprintf(stderr, "fuzz-chan: %s; the message (%zu bytes):\n", what, len);
	for (size_t i = 0; i < len; i++)
		fprintf(stderr, "%02x%s", b[i], i % 16 == 15 ? "\n" : " ");
	fprintf(stderr, "\n");
	exit(1);
}

static bool inside(const void *p, size_t n, const unsigned char *b, size_t len)
{
	const unsigned char *c = p;

	return c >= b && c + n <= b + len;
}

/* What handlers rely on in a request the parser accepted. */
static void check_request(const unsigned char *b, size_t len, const struct gm_chan_msg *m)
{
	const struct gm_chan_cmd_spec *spec = gm_chan_cmd(m->cmd);

	if (!spec || (void *)m->nlh != (void *)b || m->nlh->nlmsg_len != len)
		dump("accepted a request of an unknown command or a wrong length", b, len);
	for (unsigned a = 1; a <= GMEMFS_CTL_A_MAX; a++) {
		const struct nlattr *nla = m->tb[a];
		const struct nla_policy *pt = &gm_chan_policy[a];

		if (!nla) {
			if (spec->required & GM_CHAN_BIT(a))
				dump("accepted a request without a required attribute", b, len);
			continue;
		}
		if (!(spec->allowed & GM_CHAN_BIT(a)) || !inside(nla, nla->nla_len, b, len))
			dump("accepted an attribute not allowed or outside the message", b, len);
		if ((pt->type == NLA_U32 && nla_len(nla) != 4) ||
		    (pt->type == NLA_U64 && nla_len(nla) != 8))
			dump("accepted an integer of the wrong size", b, len);
		if (pt->type == NLA_STRING &&
		    (nla_len(nla) < 1 || strlen(nla_data(nla)) + 1 != (size_t)nla_len(nla)))
			dump("accepted a string that is not one NUL-terminated string", b, len);
	}
}

/* Replies: whatever is accepted is walked the way libgmemfs walks it. */
static void check_reply(const unsigned char *b, size_t len, struct gm_chan_msg *m)
{
	struct nlattr *tb[GMEMFS_CTL_PROV_A_MAX + 1], *nla;
	int rem;

	if (m->reason && !inside(m->reason, strlen(m->reason) + 1, b, len))
		dump("an error reason outside the message", b, len);
	if (m->done || m->error || !m->nlh)
		return;
	for (unsigned a = 1; a <= GMEMFS_CTL_A_MAX; a++) {
		if (m->tb[a] && !inside(m->tb[a], m->tb[a]->nla_len, b, len))
			dump("a reply attribute outside the message", b, len);
	}
	nlmsg_for_each_attr(nla, m->nlh, GENL_HDRLEN, rem) {
		if (nla_type(nla) == GMEMFS_CTL_A_POOL_PROV && gm_chan_parse_prov(nla, tb) == 0 &&
		    tb[GMEMFS_CTL_PROV_A_NAME] && strlen(nla_get_string(tb[GMEMFS_CTL_PROV_A_NAME])) + 1 !=
		    (size_t)nla_len(tb[GMEMFS_CTL_PROV_A_NAME]))
			dump("accepted a provider name that is not one string", b, len);
	}
}

static void one_input(const unsigned char *src, size_t len, unsigned long *accepted)
{
	/* An exact-size copy: ASan then sees any byte read past the end. */
	unsigned char *b = malloc(len ? len : 1);
	char why[GM_CHAN_WHY_MAX];
	struct gm_chan_msg m;
	uint32_t seq = 0;

	memcpy(b, src, len);
	if (gm_chan_parse_request(b, len, &m, why) == 0) {
		check_request(b, len, &m);
		accepted[0]++;
	}
	if (len >= sizeof(seq) * 3)
		memcpy(&seq, b + 8, sizeof(seq));
	if (gm_chan_parse_reply(b, len, seq, &m, why) == 0) {
		check_reply(b, len, &m);
		accepted[1]++;
	}
	free(b);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 't' },
		{ 0 }
	};
	static unsigned char buf[GMEMFS_CTL_MSG_MAX + 512];
	unsigned long iterations = 200000, seconds = 20, i, accepted[2] = { 0 };
	uint64_t t0;
	int o;

	rng_state = 0x9e3779b97f4a7c15ULL;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': rng_state ^= strtoull(optarg, NULL, 0) | 1; break;
		case 'i': iterations = strtoul(optarg, NULL, 0); break;
		case 't': seconds = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: fuzz-chan [--seed N] [--iterations N] [--seconds S]\n");
			return 2;
		}
	}
	make_seeds();
	t0 = gm_mono_ns();
	for (i = 0; i < iterations; i++) {
		const struct seed *s = &seeds[rndn(nseeds)];
		size_t len = s->len;

		memcpy(buf, s->buf, len);
		for (unsigned n = 1 + rndn(8); n--; )
			len = mutate(buf, len, sizeof(buf));
		one_input(buf, len, accepted);
		if (i % 1024 == 0) {
			if ((gm_mono_ns() - t0) / 1000000000 >= seconds)
				break;
		}
	}
	printf("fuzz-chan: %lu inputs, %lu accepted as requests, %lu as replies; no "
	       "invariant broken\n", i, accepted[0], accepted[1]);
	for (unsigned k = 0; k < nseeds; k++)
		free(seeds[k].buf);
	return 0;
}
