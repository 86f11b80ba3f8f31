/*
 * gm-scalebench's output: the table on stdout (one block per operation,
 * a row per population, then the growth summary and the restart), and the
 * JSON document with every sample.  Ratios: gmemfs/tmpfs is gmemfs's time
 * over tmpfs's (above 1 gmemfs is slower); growth is an operation's median
 * at the largest population measured over its median at the smallest (the
 * goal for gmemfs is at most GROWTH_GOAL).
 *
 * Not for: taking measurements (scale_ops.c, scale_restart.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/json.h"
#include "gm-test-util.h"
#include "program.h"
#include "scalebench.h"

#define GROWTH_GOAL	1.2

struct scale_stat scale_stat_of(const struct scale_cell *c, int total)
{
	struct scale_stat st = { NAN, NAN, NAN };
	double v[SC_MAX_ROUNDS];
	unsigned int i;

	if (!c->n)
		return st;
	for (i = 0; i < c->n; i++)
		v[i] = total ? c->s[i].total_us : c->s[i].value;
	st.median = gm_median_sort(v, c->n);
	st.min = v[0];
	st.max = v[c->n - 1];
	return st;
}

static int measured(const struct scale_cell *c)
{
	return c->n && !c->na[0] && !c->err[0];
}

static double median_of(const struct scale_cell *c)
{
	return measured(c) ? scale_stat_of(c, 0).median : NAN;
}

static double ratio(const struct scale_pop *pop, unsigned int op)
{
	double g = median_of(&pop->cell[op][SC_GMEMFS]), t = median_of(&pop->cell[op][SC_TMPFS]);

	return t > 0 ? g / t : NAN;
}

/* The smallest and largest populations measured: indexes, -1 if none. */
static void pop_range(const struct scale *s, int *lo, int *hi)
{
	unsigned int p;

	*lo = *hi = -1;
	for (p = 0; p < s->npops; p++)
		if (s->pop[p].ran) {
			if (*lo < 0)
				*lo = (int)p;
			*hi = (int)p;
		}
}

static double growth(const struct scale *s, unsigned int op, unsigned int f)
{
	int lo, hi;
	double a, b;

	pop_range(s, &lo, &hi);
	if (lo < 0 || lo == hi)
		return NAN;
	a = median_of(&s->pop[lo].cell[op][f]);
	b = median_of(&s->pop[hi].cell[op][f]);
	return a > 0 ? b / a : NAN;
}

static int selected(const struct scale *s, unsigned int op)
{
	return !s->only || !strcmp(s->only, scale_ops[op].name);
}

void scale_print_command(const struct scale *s, FILE *f)
{
	bench_print_argv(s->argc, s->argv, f);
}

/* --- table ---------------------------------------------------------------- */

static void cell_text(const struct scale_cell *c, int total, double scale)
{
	struct scale_stat st;

	if (c->na[0]) {
		printf(" %-32s", "n/a");
		return;
	}
	if (c->err[0] || !c->n) {
		printf(" %-32s", c->err[0] ? "FAILED" : "-");
		return;
	}
	st = scale_stat_of(c, total);
	printf(" %10.3f %10.3f %10.3f", st.median / scale, st.min / scale, st.max / scale);
}

static void op_block(const struct scale *s, unsigned int op, int total)
{
	const struct scale_op *o = &scale_ops[op];
	unsigned int p, f;

	if (total)
		printf("\n%s: one pass over the whole directory, ms\n", o->name);
	else
		printf("\n%s: %s, %s\n", o->name, o->title, o->unit);
	printf("  %8s %10s %10s %10s %10s %10s %10s %8s\n", "files", "gmemfs", "min", "max",
	       "tmpfs", "min", "max", "gm/tmpfs");
	for (p = 0; p < s->npops; p++) {
		const struct scale_pop *pop = &s->pop[p];
		double r = NAN;

		if (!pop->files)
			continue;
		printf("  %8u", pop->files);
		if (!pop->ran) {
			printf(" %s\n", pop->skipped);
			continue;
		}
		for (f = 0; f < SC_NFS; f++)
			cell_text(&pop->cell[op][f], total, total ? 1e3 : 1);
		if (measured(&pop->cell[op][SC_GMEMFS]) && measured(&pop->cell[op][SC_TMPFS]))
			r = total ? scale_stat_of(&pop->cell[op][SC_GMEMFS], 1).median /
				    scale_stat_of(&pop->cell[op][SC_TMPFS], 1).median
				  : ratio(pop, op);
		if (isnan(r))
			printf(" %8s\n", "-");
		else
			printf(" %8.2f\n", r);
		for (f = 0; f < SC_NFS; f++) {
			const struct scale_cell *c = &pop->cell[op][f];

			if (c->na[0] || c->err[0])
				printf("  %8s %s %s: %s\n", "", s->fs[f].name,
				       c->na[0] ? "n/a" : "failed", c->na[0] ? c->na : c->err);
		}
	}
}

static void populate_block(const struct scale *s)
{
	unsigned int p, f;

	printf("\npopulate: mknod + truncate to the size, per population (files added since "
	       "the one before);\nsettle: until the daemon went idle (at most 5%% of a core "
	       "over 0.2 s) before the batches;\ndaemon CPU: its CPU time over the wall time of "
	       "that population's batches (100%%: one core)\n");
	printf("  %8s %10s %10s %10s %10s %14s %9s %11s\n", "files", "gmemfs s", "us/file",
	       "tmpfs s", "us/file", "daemon RSS kB", "settle s", "daemon CPU");
	for (p = 0; p < s->npops; p++) {
		const struct scale_pop *pop = &s->pop[p];

		if (!pop->files)
			continue;
		printf("  %8u", pop->files);
		for (f = 0; f < SC_NFS; f++) {
			const struct scale_populate *pp = &pop->populate[f];

			printf(" %10.2f %10.1f", pp->secs, pp->added ? pp->secs * 1e6 / pp->added : 0);
		}
		printf(" %14ld", pop->rss_kb);
		if (pop->settle_secs >= 0)
			printf(" %9.1f", pop->settle_secs);
		else
			printf(" %9s", "-");
		if (pop->daemon_cpu_secs >= 0 && pop->measure_secs > 0)
			printf(" %10.0f%%\n", 100 * pop->daemon_cpu_secs / pop->measure_secs);
		else
			printf(" %11s\n", "-");
		for (f = 0; f < SC_NFS; f++)
			if (pop->populate[f].err[0])
				printf("  %8s %s FAILED: %s\n", "", s->fs[f].name, pop->populate[f].err);
	}
}

static void growth_block(const struct scale *s)
{
	unsigned int op;
	int lo, hi;

	pop_range(s, &lo, &hi);
	if (lo < 0 || lo == hi)
		return;
	printf("\ngrowth from %u to %u files (median at %u / median at %u; goal for gmemfs: "
	       "<= %.1fx;\ngm/tmpfs: gmemfs's growth over tmpfs's, what the population costs "
	       "gmemfs beyond the kernel's own)\n", s->pop[lo].files, s->pop[hi].files,
	       s->pop[hi].files, s->pop[lo].files, GROWTH_GOAL);
	printf("  %-10s %10s %10s %10s %16s\n", "op", "gmemfs", "tmpfs", "gm/tmpfs",
	       "gm/tmpfs at max");
	for (op = 0; op < scale_nops; op++) {
		double g = growth(s, op, SC_GMEMFS), t = growth(s, op, SC_TMPFS);
		double r = ratio(&s->pop[hi], op);

		if (!selected(s, op))
			continue;
		printf("  %-10s %9.2fx %9.2fx %9.2fx %16.2f%s\n", scale_ops[op].name, g, t, g / t, r,
		       !isnan(g) && g > GROWTH_GOAL ? "  <- grows more than the goal" :
		       isnan(g) ? "  (not measured at both)" : "");
	}
}

static void restart_block(const struct scale *s)
{
	const struct scale_restart *r = &s->restart;
	double per_file = r->files ? 1024.0 / r->files : NAN;

	printf("\nrestart after kill -9 at %u files:\n", r->files);
	if (r->err[0])
		printf("  FAILED: %s\n", r->err);
	printf("  daemon RSS: %ld kB empty, %ld kB before the kill, %ld kB once serving, "
	       "%ld kB after the walk\n", r->rss_empty_kb, r->rss_before_kb, r->rss_served_kb,
	       r->rss_walked_kb);
	if (r->rss_before_kb > 0 && r->rss_walked_kb > 0)
		printf("  per file: %.0f B before the kill (%.0f B above empty), %.0f B after the "
		       "walk (%.0f B above empty)\n", r->rss_before_kb * per_file,
		       (r->rss_before_kb - r->rss_empty_kb) * per_file, r->rss_walked_kb * per_file,
		       (r->rss_walked_kb - r->rss_empty_kb) * per_file);
	printf("  kill -9 until gone %.1f ms; restart until a stat is served %.1f ms; walk "
	       "(readdir + stat of every file) %.1f ms, %u of %u files back\n", r->kill_ms,
	       r->serve_ms, r->walk_ms, r->found, r->files);
	if (r->stopped)
		printf("  restarted daemon (PID %d) stopped at the end: exit status %d%s\n",
		       (int)r->new_pid, r->stop_status, r->stop_status < 0 ? " (SIGKILLed)" : "");
}

void scale_report_table(const struct scale *s)
{
	unsigned int op;

	printf("\nfiles of %llu bytes (sparse); %u rounds of batches of %u (at most the "
	       "population), gmemfs and tmpfs interleaved, first one alternating;\n"
	       "each round runs every op in turn%s;\n"
	       "median, min, max per batch; gm/tmpfs: gmemfs's time over tmpfs's (>1 slower)\n",
	       (unsigned long long)s->size, s->rounds, s->batch,
	       s->isolate ? ", each after the daemon went idle (--isolate on)" :
	       ", each right after the one before (--isolate off)");
	populate_block(s);
	for (op = 0; op < scale_nops; op++) {
		if (!selected(s, op))
			continue;
		op_block(s, op, 0);
		if (!strcmp(scale_ops[op].name, "readdir"))
			op_block(s, op, 1);
	}
	growth_block(s);
	if (s->restart.ran)
		restart_block(s);
	printf("\nduration: %.1f s\n", s->finished - s->started);
	printf("reproduce: ");
	scale_print_command(s, stdout);
	printf("\n");
}

/* --- JSON ----------------------------------------------------------------- */

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

static void json_machine(FILE *f)
{
	struct utsname u;

	uname(&u);
	fprintf(f, "\"machine\":{\"cpus_online\":%ld,\"kernel\":", sysconf(_SC_NPROCESSORS_ONLN));
	gm_json_str(f, u.release);
	fputs(",\"arch\":", f);
	gm_json_str(f, u.machine);
	fputc('}', f);
}

static void json_params(FILE *f, const struct scale *s)
{
	char *cmd = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&cmd, &len);
	unsigned int p;

	if (m) {
		scale_print_command(s, m);
		fclose(m);
	}
	fprintf(f, "\"parameters\":{\"files\":[");
	for (p = 0; p < s->npops; p++)
		fprintf(f, "%s%u", p ? "," : "", s->pops[p]);
	fprintf(f, "],\"rounds\":%u,\"batch\":%u,\"size\":%llu,\"isolate\":%s,\"mount\":",
		s->rounds, s->batch, (unsigned long long)s->size, s->isolate ? "true" : "false");
	gm_json_str(f, s->mount);
	fputs(",\"only\":", f);
	if (s->only)
		gm_json_str(f, s->only);
	else
		fputs("null", f);
	fputs("},\"command\":", f);
	gm_json_str(f, cmd ? cmd : "");
	free(cmd);
	fputs(",\"started_utc\":", f);
	gm_json_str(f, s->started_utc);
	fprintf(f, ",\"duration_s\":%.3f", s->finished - s->started);
}

static void json_stat(FILE *f, const char *prefix, struct scale_stat st)
{
	fprintf(f, ",\"%smedian\":", prefix);
	json_num(f, st.median);
	fprintf(f, ",\"%smin\":", prefix);
	json_num(f, st.min);
	fprintf(f, ",\"%smax\":", prefix);
	json_num(f, st.max);
}

static void json_cell(FILE *f, const struct scale_cell *c)
{
	unsigned int i;

	if (c->na[0]) {
		fputs("{\"status\":\"n/a\",\"reason\":", f);
		gm_json_str(f, c->na);
		fputc('}', f);
		return;
	}
	fprintf(f, "{\"status\":\"%s\"", c->err[0] ? "failed" : c->n ? "measured" : "not run");
	if (c->err[0]) {
		fputs(",\"error\":", f);
		gm_json_str(f, c->err);
	}
	fputs(",\"samples\":[", f);
	for (i = 0; i < c->n; i++) {
		fprintf(f, "%s{\"value\":", i ? "," : "");
		json_num(f, c->s[i].value);
		fputs(",\"total_us\":", f);
		json_num(f, c->s[i].total_us);
		fprintf(f, ",\"check\":%lld}", c->s[i].check);
	}
	fputc(']', f);
	json_stat(f, "", scale_stat_of(c, 0));
	json_stat(f, "total_us_", scale_stat_of(c, 1));
	fputc('}', f);
}

static void json_pop(FILE *f, const struct scale *s, unsigned int p)
{
	const struct scale_pop *pop = &s->pop[p];
	unsigned int op, k, first = 1;

	fprintf(f, "%s{\"files\":%u,\"status\":\"%s\"", p ? "," : "", pop->files,
		pop->ran ? "measured" : "skipped");
	if (!pop->ran) {
		fputs(",\"reason\":", f);
		gm_json_str(f, pop->skipped[0] ? pop->skipped : "interrupted");
	}
	fprintf(f, ",\"daemon_rss_kb\":%ld,\"settle_s\":", pop->rss_kb);
	json_num(f, pop->settle_secs >= 0 ? pop->settle_secs : NAN);
	fprintf(f, ",\"measure_s\":%.3f,\"daemon_cpu_s\":", pop->measure_secs);
	json_num(f, pop->daemon_cpu_secs >= 0 ? pop->daemon_cpu_secs : NAN);
	fputs(",\"populate\":{", f);
	for (k = 0; k < SC_NFS; k++) {
		const struct scale_populate *pp = &pop->populate[k];

		fprintf(f, "%s\"%s\":{\"seconds\":%.6f,\"added\":%u,\"error\":", k ? "," : "",
			s->fs[k].name, pp->secs, pp->added);
		if (pp->err[0])
			gm_json_str(f, pp->err);
		else
			fputs("null", f);
		fputc('}', f);
	}
	fputs("},\"ops\":[", f);
	for (op = 0; op < scale_nops && pop->ran; op++) {
		if (!selected(s, op))
			continue;
		fprintf(f, "%s{\"op\":\"%s\",\"unit\":\"%s\"", first ? "" : ",", scale_ops[op].name,
			scale_ops[op].unit);
		first = 0;
		for (k = 0; k < SC_NFS; k++) {
			fprintf(f, ",\"%s\":", s->fs[k].name);
			json_cell(f, &pop->cell[op][k]);
		}
		fputs(",\"gmemfs_over_tmpfs\":", f);
		json_num(f, ratio(pop, op));
		fputc('}', f);
	}
	fputs("]}", f);
}

static void json_growth(FILE *f, const struct scale *s)
{
	unsigned int op, first = 1;

	fprintf(f, ",\"growth_goal\":%.2f,\"growth\":[", GROWTH_GOAL);
	for (op = 0; op < scale_nops; op++) {
		if (!selected(s, op))
			continue;
		fprintf(f, "%s{\"op\":\"%s\",\"gmemfs\":", first ? "" : ",", scale_ops[op].name);
		json_num(f, growth(s, op, SC_GMEMFS));
		fputs(",\"tmpfs\":", f);
		json_num(f, growth(s, op, SC_TMPFS));
		fputs(",\"gmemfs_over_tmpfs\":", f);
		json_num(f, growth(s, op, SC_GMEMFS) / growth(s, op, SC_TMPFS));
		fputc('}', f);
		first = 0;
	}
	fputc(']', f);
}

static void json_restart(FILE *f, const struct scale *s)
{
	const struct scale_restart *r = &s->restart;

	fputs(",\"restart\":", f);
	if (!r->ran) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"status\":\"%s\",\"error\":", r->err[0] ? "failed" : "measured");
	if (r->err[0])
		gm_json_str(f, r->err);
	else
		fputs("null", f);
	fprintf(f, ",\"files\":%u,\"old_pid\":%d,\"new_pid\":%d,\"rss_empty_kb\":%ld,"
		"\"rss_before_kill_kb\":%ld,\"rss_served_kb\":%ld,\"rss_after_walk_kb\":%ld,"
		"\"kill_ms\":%.3f,\"serve_ms\":%.3f,\"walk_ms\":%.3f,\"files_back\":%u,"
		"\"stop_status\":", r->files, (int)r->old_pid, (int)r->new_pid, r->rss_empty_kb,
		r->rss_before_kb, r->rss_served_kb, r->rss_walked_kb, r->kill_ms, r->serve_ms,
		r->walk_ms, r->found);
	if (r->stopped)
		fprintf(f, "%d}", r->stop_status);
	else
		fputs("null}", f);
}

int scale_report_json(const struct scale *s, const char *path)
{
	FILE *f = fopen(path, "w");
	unsigned int p;

	if (!f) {
		perror(path);
		return -1;
	}
	fputs("{\"program\":\"gm-scalebench\",", f);
	json_machine(f);
	fputc(',', f);
	json_params(f, s);
	fputs(",\"populations\":[", f);
	for (p = 0; p < s->npops; p++)
		json_pop(f, s, p);
	fputc(']', f);
	json_growth(f, s);
	json_restart(f, s);
	fputs("}\n", f);
	if (fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}
