/*
 * The daemon's figures in the Prometheus text format (exposition 0.0.4),
 * rendered once here for both readers: MOUNT/.gmemfs/metrics (views.c) and
 * the control socket's METRICS (ctl/cmd_metrics.c).  Only figures the
 * daemon already keeps: the pool and its providers, the requests served,
 * eager snapshots and restores, the live lazy-restore sessions.
 * docs/metrics.md lists the names.
 * Not for: per-file figures (stats.c), serving the text.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuse/fsops.h"
#include "uffd/session.h"

/* The live sessions a reader may see, copied once so that every family
 * lists the same ones. */
struct gm_metrics_sessions {
	struct gm_uffd_figures *f;
	unsigned n, cap;
};

static int gm_metrics_add_session(void *ctx, const struct gm_uffd_figures *f)
{
	struct gm_metrics_sessions *s = ctx;

	if (s->n == s->cap) {
		struct gm_uffd_figures *more = realloc(s->f, (s->cap + 16) * sizeof(*more));

		if (!more)
			return -ENOMEM;
		s->f = more;
		s->cap += 16;
	}
	s->f[s->n++] = *f;
	return 0;
}

static void gm_metrics_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gm_metrics_one(FILE *f, const char *name, const char *type, const char *help,
			   unsigned long long v)
{
	gm_metrics_head(f, name, type, help);
	fprintf(f, "%s %llu\n", name, v);
}

/* A per-provider family: one sample per attached provider. */
enum gm_metrics_prov_fig { GM_MP_PAGE, GM_MP_USED, GM_MP_LIMIT, GM_MP_FIXED, GM_MP_ADDED };

static void gm_metrics_prov_family(FILE *f, struct gm_fs *fs, const struct gm_pool_usage *u,
				   const char *name, const char *help,
				   enum gm_metrics_prov_fig fig)
{
	gm_metrics_head(f, name, "gauge", help);
	for (unsigned i = 0; i < GM_NPROV; i++) {
		const struct gm_provider *p = fs->pool.inst[i].prov;
		long long v;

		if (!p)
			continue;
		v = fig == GM_MP_PAGE ? (long long)p->page_size :
		    fig == GM_MP_USED ? (long long)u->prov[i].used :
		    fig == GM_MP_LIMIT ? (long long)u->prov[i].limit :
		    fig == GM_MP_FIXED ? p->fixed_limit : fs->pool.pages_added[i];
		fprintf(f, "%s{provider=\"%s\"} %lld\n", name, p->name, v);
	}
}

/* The shim's carve-out, only where the shim is attached. */
static void gm_metrics_secret(FILE *f, struct gm_fs *fs)
{
	uint64_t size, free_bytes;

	if (gm_pool_secret(&fs->pool, &size, &free_bytes))
		return;
	gm_metrics_one(f, "gmemfs_secret_carveout_bytes", "gauge",
		       "The shim module's carve-out, outside the kernel's direct map, that "
		       "files of policy shim-secret take pages from (0: none).", size);
	gm_metrics_one(f, "gmemfs_secret_free_bytes", "gauge",
		       "The part of the carve-out no file holds.", free_bytes);
}

static void gm_metrics_pool(FILE *f, struct gm_fs *fs)
{
	struct gm_pool_usage u = { 0 };

	gm_pool_usage(&fs->pool, &u);
	gm_metrics_one(f, "gmemfs_pool_budget_bytes", "gauge",
		       "Memory the mount may hold in all (--pool-size).", u.budget);
	gm_metrics_one(f, "gmemfs_pool_used_bytes", "gauge",
		       "Memory the mount's files hold, over all providers.", u.used);
	gm_metrics_one(f, "gmemfs_pool_free_bytes", "gauge",
		       "The budget less what is used.", u.free);
	/* Every provider the pool knows: 0 for one it could not attach (the
	 * reason is in .gmemfs/stats and the log). */
	gm_metrics_head(f, "gmemfs_provider_available", "gauge",
			"1 if the provider is attached, 0 if the pool could not attach it.");
	for (unsigned i = 0; i < GM_NPROV; i++) {
		if (fs->pool.inst[i].prov || fs->pool.absent[i])
			fprintf(f, "gmemfs_provider_available{provider=\"%s\"} %d\n",
				gmemfs_prov_name(i), !!fs->pool.inst[i].prov);
	}
	gm_metrics_prov_family(f, fs, &u, "gmemfs_provider_page_size_bytes",
			       "The page size of the provider's memory.", GM_MP_PAGE);
	gm_metrics_prov_family(f, fs, &u, "gmemfs_provider_used_bytes",
			       "Memory the provider's files hold.", GM_MP_USED);
	gm_metrics_prov_family(f, fs, &u, "gmemfs_provider_limit_bytes",
			       "The provider's share of the budget.", GM_MP_LIMIT);
	gm_metrics_prov_family(f, fs, &u, "gmemfs_provider_fixed_limit",
			       "1 for a hugetlb store whose limit no split of the budget changes.",
			       GM_MP_FIXED);
	gm_metrics_prov_family(f, fs, &u, "gmemfs_provider_hugepages_added",
			       "Huge pages the daemon added to the kernel's pool for the provider.",
			       GM_MP_ADDED);
	gm_metrics_secret(f, fs);
}

static void gm_metrics_requests(FILE *f, struct gm_fs *fs)
{
	gm_metrics_head(f, "gmemfs_requests_total", "counter",
			"FUSE requests the daemon served, by operation (read and write stay 0 "
			"while passthrough serves the data).");
	for (unsigned i = 0; i < GM_OP_COUNT; i++)
		fprintf(f, "gmemfs_requests_total{op=\"%s\"} %llu\n", gm_op_names[i],
			(unsigned long long)atomic_load(&fs->ops[i]));
	gm_metrics_one(f, "gmemfs_passthrough", "gauge",
		       "1 if the kernel accepted FUSE passthrough for the data path.",
		       fs->passthrough);
	gm_metrics_one(f, "gmemfs_journal_replay_failures", "gauge",
		       "Journal records that did not apply when the daemon started.",
		       fs->replay_failures);
}

/* The snapshot families, by the figure's offset in struct gm_snapfig. */
static const struct gm_metrics_snap_family {
	const char *name, *type, *help;
	size_t off;
	double scale;		/* to the unit the name says */
} gm_metrics_snap_families[] = {
	{ "gmemfs_snapshot_bytes_total", "counter",
	  "Bytes of memory written to snapshots (op=snapshot) or read back (op=restore), "
	  "by the requests that ended well.", offsetof(struct gm_snapfig, bytes), 1 },
	{ "gmemfs_snapshot_pages_total", "counter",
	  "Pages with data those requests wrote or restored (holes are not counted).",
	  offsetof(struct gm_snapfig, pages), 1 },
	{ "gmemfs_snapshot_seconds_total", "counter",
	  "Time those requests took.", offsetof(struct gm_snapfig, ns), 1e-9 },
	{ "gmemfs_snapshot_last_bytes", "gauge",
	  "Bytes of the last request that ended well.",
	  offsetof(struct gm_snapfig, last_bytes), 1 },
	{ "gmemfs_snapshot_last_seconds", "gauge",
	  "Time the last request that ended well took.", offsetof(struct gm_snapfig, last_ns),
	  1e-9 },
	{ "gmemfs_snapshot_last_success_timestamp_seconds", "gauge",
	  "When the last request that ended well ended (Unix time; 0: none yet).",
	  offsetof(struct gm_snapfig, last_end_s), 1 },
};

static uint64_t gm_metrics_snap_get(const struct gm_snapfig *sf, size_t off)
{
	return atomic_load_explicit((const atomic_uint_fast64_t *)((const char *)sf + off),
				    memory_order_relaxed);
}

/* Eager snapshots and restores through the control socket, by op. */
static void gm_metrics_snapshots(FILE *f, struct gm_fs *fs)
{
	const struct gm_metrics_snap_family *fam;

	gm_metrics_head(f, "gmemfs_snapshot_requests_total", "counter",
			"SNAPSHOT and RESTORE requests (eager), by how they ended.");
	for (unsigned op = 0; op < GM_SNAPFIG_NOPS; op++)
		fprintf(f, "gmemfs_snapshot_requests_total{op=\"%s\",result=\"ok\"} %llu\n"
			"gmemfs_snapshot_requests_total{op=\"%s\",result=\"error\"} %llu\n",
			gm_snapfig_names[op],
			(unsigned long long)atomic_load_explicit(&fs->snapfig[op].ok,
								 memory_order_acquire),
			gm_snapfig_names[op],
			(unsigned long long)atomic_load(&fs->snapfig[op].failed));
	for (fam = gm_metrics_snap_families;
	     fam < gm_metrics_snap_families + sizeof(gm_metrics_snap_families) /
					      sizeof(gm_metrics_snap_families[0]); fam++) {
		gm_metrics_head(f, fam->name, fam->type, fam->help);
		for (unsigned op = 0; op < GM_SNAPFIG_NOPS; op++)
			fprintf(f, "%s{op=\"%s\"} %.17g\n", fam->name, gm_snapfig_names[op],
				(double)gm_metrics_snap_get(&fs->snapfig[op], fam->off) *
					fam->scale);
	}
}

/* The per-session families, by the figure's offset in gm_uffd_figures. */
static const struct gm_metrics_sess_family {
	const char *name, *type, *help;
	size_t off;
} gm_metrics_sess_families[] = {
	{ "gmemfs_lazy_session_faults_total", "counter",
	  "Page faults the session served.", offsetof(struct gm_uffd_figures, faults) },
	{ "gmemfs_lazy_session_minor_faults_total", "counter",
	  "Faults answered with UFFDIO_CONTINUE (shmem MINOR mode).",
	  offsetof(struct gm_uffd_figures, minor) },
	{ "gmemfs_lazy_session_corrupt_faults_total", "counter",
	  "Faults on snapshot bytes whose checksum failed.",
	  offsetof(struct gm_uffd_figures, corrupt) },
	{ "gmemfs_lazy_session_placed_bytes_total", "counter",
	  "Bytes placed into the VMM's memory, faults and prefetch together.",
	  offsetof(struct gm_uffd_figures, bytes) },
	{ "gmemfs_lazy_session_prefetched_bytes_total", "counter",
	  "Bytes the prefetcher placed from the stored working set.",
	  offsetof(struct gm_uffd_figures, prefetched) },
	{ "gmemfs_lazy_session_removed_bytes_total", "counter",
	  "Bytes the VMM discarded (UFFD_EVENT_REMOVE, UNMAP).",
	  offsetof(struct gm_uffd_figures, removed) },
	{ "gmemfs_lazy_session_working_set_units", "gauge",
	  "Units recorded in the working set so far.", offsetof(struct gm_uffd_figures, ws) },
	{ "gmemfs_lazy_session_unit_bytes", "gauge",
	  "Bytes placed per fault: the snapshot's chunk, or a region's larger page.",
	  offsetof(struct gm_uffd_figures, unit) },
};

static void gm_metrics_sessions(FILE *f, const struct gm_metrics_sessions *s)
{
	const struct gm_metrics_sess_family *fam;

	gm_metrics_one(f, "gmemfs_lazy_sessions", "gauge",
		       "Lazy-restore sessions running (those the reader may see).", s->n);
	for (fam = gm_metrics_sess_families;
	     fam < gm_metrics_sess_families + sizeof(gm_metrics_sess_families) /
					      sizeof(gm_metrics_sess_families[0]); fam++) {
		gm_metrics_head(f, fam->name, fam->type, fam->help);
		for (unsigned i = 0; i < s->n; i++)
			fprintf(f, "%s{session=\"%llu\",pid=\"%d\"} %llu\n", fam->name,
				(unsigned long long)s->f[i].id, (int)s->f[i].pid,
				(unsigned long long)*(const uint64_t *)((const char *)&s->f[i] +
									fam->off));
	}
	gm_metrics_head(f, "gmemfs_lazy_session_complete", "gauge",
			"1 once every page of the session is placed.");
	for (unsigned i = 0; i < s->n; i++)
		fprintf(f, "gmemfs_lazy_session_complete{session=\"%llu\",pid=\"%d\"} %d\n",
			(unsigned long long)s->f[i].id, (int)s->f[i].pid,
			s->f[i].state == GMEMFS_SESS_COMPLETE);
	/* A gauge, not a summary: the daemon keeps the quantiles of the first
	 * GM_UFFD_LAT_SAMPLES faults, not a running sum of all of them. */
	gm_metrics_head(f, "gmemfs_lazy_session_fault_latency_seconds", "gauge",
			"Time from reading a fault to its answer, at the quantile, over the "
			"session's first 65536 faults.");
	for (unsigned i = 0; i < s->n; i++)
		fprintf(f, "gmemfs_lazy_session_fault_latency_seconds{session=\"%llu\",pid=\"%d\","
			"quantile=\"0.5\"} %.9f\n"
			"gmemfs_lazy_session_fault_latency_seconds{session=\"%llu\",pid=\"%d\","
			"quantile=\"0.99\"} %.9f\n",
			(unsigned long long)s->f[i].id, (int)s->f[i].pid, s->f[i].lat_p50_ns / 1e9,
			(unsigned long long)s->f[i].id, (int)s->f[i].pid, s->f[i].lat_p99_ns / 1e9);
}

char *gm_metrics_text(struct gm_fs *fs, uid_t reader, size_t *len)
{
	struct gm_metrics_sessions s = { 0 };
	char *buf = NULL;
	FILE *f;

	/* Root (uid 0) sees every session, anyone else their own VMMs'. */
	if (gm_uffd_sessions_each(reader, gm_metrics_add_session, &s)) {
		free(s.f);
		return NULL;
	}
	f = open_memstream(&buf, len);
	if (!f) {
		free(s.f);
		return NULL;
	}
	gm_metrics_pool(f, fs);
	gm_metrics_requests(f, fs);
	gm_metrics_snapshots(f, fs);
	gm_metrics_sessions(f, &s);
	free(s.f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
