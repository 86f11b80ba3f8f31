/*
 * gmemctl record-ws [--interval MS] [--duration S] FILE: the daemon
 * read-write-protects the guest memory FILE's VMM registered and scans
 * which pages the guest touched, every MS (100), for S seconds (10); the
 * order goes into FILE's next snapshot as its working set.  Prints the
 * pages recorded.  Needs a kernel with userfaultfd RWP (Linux 7.2+).
 * Not for: arming (the VMM does it: gmemfs_ctl_record_ws_arm).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/json.h"
#include "cmd_record.h"
#include "gmemfs_client.h"

#define RECORD_USE "usage: gmemctl record-ws [--interval MS] [--duration S] FILE\n"

static int record_num(const char *s, unsigned long max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int cmd_record_ws(int argc, char **argv, const char *sock_path, bool json)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ 0 }
	};
	uint32_t interval = 100, duration_s = 10;
	struct gmemfs_ctl *c;
	uint64_t pages = 0;
	char *rel;
	int o, err;

	optind = 0;
	while ((o = getopt_long(argc, argv, "+i:d:", opts, NULL)) != -1) {
		if ((o == 'i' && !record_num(optarg, 3600000, &interval) && interval) ||
		    (o == 'd' && !record_num(optarg, 86400, &duration_s)))
			continue;
		fputs(RECORD_USE, stderr);
		return 2;
	}
	if (argc - optind != 1) {
		fputs(RECORD_USE, stderr);
		return 2;
	}
	err = gmctl_connect(sock_path, argv[optind], &c, &rel);
	if (err) {
		fprintf(stderr, "gmemctl: %s: %s\n", argv[optind], strerror(-err));
		return 1;
	}
	err = gmemfs_ctl_record_ws(c, rel, interval, duration_s * 1000, &pages);
	if (err)
		fprintf(stderr, "gmemctl: record-ws %s: %s (%s)\n", argv[optind], strerror(-err),
			gmemfs_ctl_reason(c));
	else if (json)
		fputs("{\"file\":", stdout), gm_json_str(stdout, argv[optind]),
			printf(",\"pages\":%" PRIu64 "}\n", pages);
	else
		printf("%s: %" PRIu64 " pages recorded\n", argv[optind], pages);
	free(rel);
	gmemfs_ctl_close(c);
	return err ? 1 : 0;
}
