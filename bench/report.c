/*
 * gmembench's output: statistics of the samples, the table on stdout, the
 * JSON document (machine, kernel, parameters, every sample) and the SVG plot
 * of the gmemfs ratios.  Ratios are relative speed: above 1 the gmemfs
 * backend is faster than the one it is compared with, below 1 slower,
 * whatever the unit (so ns/page and GiB/s rows read alike).
 *
 * Not for: taking measurements (scenarios.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "program.h"
#include "common/json.h"
#include "gm-test-util.h"

#define BEHIND	0.95	/* a ratio below this is "more than 5% behind" */

struct bench_stat bench_stat_of(const struct bench_sample *s, unsigned int n)
{
	double v[BENCH_MAX_SCENARIOS * BENCH_MAX_ROUNDS];
	struct bench_stat st = { NAN, NAN, NAN };
	unsigned int i;

	if (!n)
		return st;
	for (i = 0; i < n; i++)
		v[i] = s[i].value;
	st.median = gm_median_sort(v, n);
	st.min = v[0];
	st.max = v[n - 1];
	return st;
}

static const struct bench_cell *cell_of(const struct bench *b, unsigned int sc, int bk)
{
	return bk < 0 ? NULL : &b->cell[sc][bk];
}

static int cell_measured(const struct bench_cell *c)
{
	return c && c->n && !c->na[0] && !c->failed;
}

/* Relative speed of backend bk against backend other in scenario sc, or
 * NAN if either has no figure. */
static double speed_ratio(const struct bench *b, unsigned int sc, unsigned int bk, int other)
{
	const struct bench_cell *a = cell_of(b, sc, (int)bk), *o = cell_of(b, sc, other);
	double ma, mo;

	if (!cell_measured(a) || !cell_measured(o))
		return NAN;
	ma = bench_stat_of(a->s, a->n).median;
	mo = bench_stat_of(o->s, o->n).median;
	if (ma <= 0 || mo <= 0)
		return NAN;
	return bench_scenarios[sc].throughput ? ma / mo : mo / ma;
}

static double ratio_raw(const struct bench *b, unsigned int sc, unsigned int bk)
{
	return speed_ratio(b, sc, bk, bench_backend_index(bench_backends[bk].sits_on));
}

static double ratio_gmem(const struct bench *b, unsigned int sc, unsigned int bk)
{
	return speed_ratio(b, sc, bk, bench_backend_index("guest_memfd"));
}

static int selected(const struct bench *b, unsigned int sc)
{
	return !b->only || !strcmp(b->only, bench_scenarios[sc].name);
}

/* Shell-quoted argv, so the line can be pasted back. */
void bench_print_command(const struct bench *b, FILE *f)
{
	bench_print_argv(b->argc, b->argv, f);
}

static void fmt_ratio(char *buf, size_t len, double r)
{
	if (isnan(r))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f", r);
}

/* Mean share of the object the kernel mapped with huge pages. */
static double huge_percent(const struct bench *b, const struct bench_cell *c)
{
	double sum = 0;
	unsigned int i, n = 0;

	for (i = 0; i < c->n; i++) {
		if (c->s[i].huge < 0)
			continue;
		sum += (double)c->s[i].huge / (double)b->size;
		n++;
	}
	return n ? 100.0 * sum / n : NAN;
}

static void table_row(const struct bench *b, unsigned int sc, unsigned int bk)
{
	const struct bench_backend *k = &bench_backends[bk];
	const struct bench_cell *c = &b->cell[sc][bk];
	struct bench_stat st;
	char raw[16], gm[16];
	double rr = NAN;

	/* A skipped backend has no rows, but for those n/a without KVM. */
	if (!b->st[bk].available && !c->na[0])
		return;
	printf("  %-17s ", k->name);
	if (c->na[0]) {
		printf("n/a: %s\n", c->na);
		return;
	}
	if (c->failed || !c->n) {
		printf("FAILED (see the messages above)\n");
		return;
	}
	st = bench_stat_of(c->s, c->n);
	if (k->flags & BK_GMEMFS)
		rr = ratio_raw(b, sc, bk);
	fmt_ratio(raw, sizeof(raw), rr);
	fmt_ratio(gm, sizeof(gm), (k->flags & BK_GMEMFS) ? ratio_gmem(b, sc, bk) : NAN);
	printf("%11.3f %11.3f %11.3f %8s %8s", st.median, st.min, st.max, raw, gm);
	if (bench_scenarios[sc].maps)
		printf(" %6.0f", huge_percent(b, c));
	printf("%s\n", !isnan(rr) && rr < BEHIND ? "  <- >5% behind raw" : "");
}

/* How a gmemfs backend's data reaches its memory, for the backend list. */
static const char *gmemfs_data_path(const struct bench_backend *k,
				    const struct bench_backend_state *st)
{
	if (!(k->flags & BK_GMEMFS) || (k->flags & BK_CTL_FD))
		return "";
	return st->passthrough ? "; passthrough on" : "; PASSTHROUGH OFF";
}

void bench_report_table(struct bench *b)
{
	struct bench_stat ceil = bench_stat_of(b->ceiling, b->nceiling);
	unsigned int sc, bk;

	printf("\nsize %llu MiB, %u rounds interleaved; median, min, max per row.\n"
	       "vs raw, vs gmem: relative speed of a gmemfs backend against the raw backing\n"
	       "it sits on and against in-kernel guest_memfd (>1 faster, <1 slower).\n"
	       "huge%%: share of the object mapped with huge pages (smaps; after the fill for\n"
	       "punch and seq-*), mean of the rounds.\n",
	       (unsigned long long)(b->size >> 20), b->rounds);
	if (b->nceiling)
		printf("memset ceiling (same size): %.2f GiB/s (min %.2f, max %.2f)\n",
		       ceil.median, ceil.min, ceil.max);
	for (sc = 0; sc < bench_nscenarios; sc++) {
		const struct bench_scenario *s = &bench_scenarios[sc];

		if (!selected(b, sc))
			continue;
		printf("\n%s: %s, %s%s\n", s->name, s->title, s->unit,
		       s->throughput ? " (higher is better)" : " (lower is better)");
		printf("  %-17s %11s %11s %11s %8s %8s%s\n", "backend", "median", "min", "max",
		       "vs raw", "vs gmem", s->maps ? "  huge%" : "");
		for (bk = 0; bk < bench_nbackends; bk++)
			table_row(b, sc, bk);
	}
	printf("\nbackends:\n");
	for (bk = 0; bk < bench_nbackends; bk++) {
		const struct bench_backend_state *st = &b->st[bk];

		if (st->available)
			printf("  %-17s %s%s\n", bench_backends[bk].name, bench_backends[bk].desc,
			       gmemfs_data_path(&bench_backends[bk], st));
		else
			printf("  %-17s skipped: %s\n", bench_backends[bk].name, st->reason);
	}
	if (b->daemon_rw_before[0] >= 0 && b->daemon_rw_after[0] >= 0)
		printf("gmemfsd served %lld read and %lld write requests during the run "
		       "(0 when passthrough carries the data)\n",
		       b->daemon_rw_after[0] - b->daemon_rw_before[0],
		       b->daemon_rw_after[1] - b->daemon_rw_before[1]);
	printf("duration: %.1f s\n", b->finished - b->started);
	printf("command: ");
	bench_print_command(b, stdout);
	printf("\n");
}

/* --- JSON ---------------------------------------------------------------- */

static void json_str_or_null(FILE *f, const char *s)
{
	if (s)
		gm_json_str(f, s);
	else
		fputs("null", f);
}

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

/* The first line of a file, newline dropped, or "". */
static void first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* The value of "key : value" (cpuinfo) or "key: value" (meminfo). */
static void proc_field(const char *path, const char *key, char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, key, strlen(key)) || !colon)
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

static void json_machine(FILE *f)
{
	char cpu[256], mem[64], thp[128], shmem[128], hp[32];
	struct utsname u;
	const struct { const char *key, *value; } fields[] = {
		{ "kernel", u.release }, { "kernel_version", u.version }, { "arch", u.machine },
		{ "cpu", cpu }, { "mem_total", mem }, { "thp_enabled", thp },
		{ "thp_shmem_enabled", shmem }, { "nr_hugepages_at_end", hp },
	};
	unsigned int i;

	uname(&u);
	proc_field("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	proc_field("/proc/meminfo", "MemTotal", mem, sizeof(mem));
	first_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	first_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", shmem, sizeof(shmem));
	first_line("/proc/sys/vm/nr_hugepages", hp, sizeof(hp));
	fprintf(f, "\"machine\":{\"cpus_online\":%ld", sysconf(_SC_NPROCESSORS_ONLN));
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		fprintf(f, ",\"%s\":", fields[i].key);
		gm_json_str(f, fields[i].value);
	}
	fputc('}', f);
}

static void json_params(FILE *f, const struct bench *b)
{
	fprintf(f, "\"parameters\":{\"size\":%llu,\"rounds\":%u,\"quick\":%s,\"only\":",
		(unsigned long long)b->size, b->rounds, b->quick ? "true" : "false");
	json_str_or_null(f, b->only);
	fputs(",\"mount\":", f);
	json_str_or_null(f, b->mount);
	fputs("},\"command\":", f);
	{
		char *cmd = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&cmd, &len);

		if (m) {
			bench_print_command(b, m);
			fclose(m);
		}
		gm_json_str(f, cmd ? cmd : "");
		free(cmd);
	}
	fputs(",\"started_utc\":", f);
	gm_json_str(f, b->started_utc);
	fprintf(f, ",\"duration_s\":%.3f", b->finished - b->started);
}

/* ,"median":M,"min":M,"max":M */
static void json_stat(FILE *f, const struct bench_stat *st)
{
	const double v[] = { st->median, st->min, st->max };
	const char *const key[] = { "median", "min", "max" };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		fprintf(f, ",\"%s\":", key[i]);
		json_num(f, v[i]);
	}
}

static void json_samples(FILE *f, const struct bench_sample *s, unsigned int n,
			 const char *check_name)
{
	struct bench_stat st = bench_stat_of(s, n);
	unsigned int i;

	fputs("\"samples\":[", f);
	for (i = 0; i < n; i++) {
		fprintf(f, "%s{\"value\":", i ? "," : "");
		json_num(f, s[i].value);
		fprintf(f, ",\"%s\":%lld", check_name, s[i].check);
		if (s[i].huge >= 0)
			fprintf(f, ",\"huge_bytes\":%lld", s[i].huge);
		fputc('}', f);
	}
	fputc(']', f);
	json_stat(f, &st);
}

static void json_backends(FILE *f, const struct bench *b)
{
	unsigned int bk;

	fputs("\"backends\":[", f);
	for (bk = 0; bk < bench_nbackends; bk++) {
		const struct bench_backend *k = &bench_backends[bk];
		const struct bench_backend_state *st = &b->st[bk];

		fprintf(f, "%s{\"name\":", bk ? "," : "");
		gm_json_str(f, k->name);
		fputs(",\"desc\":", f);
		gm_json_str(f, k->desc);
		fputs(",\"sits_on\":", f);
		json_str_or_null(f, k->sits_on);
		fprintf(f, ",\"status\":\"%s\"", st->available ? "measured" : "skipped");
		if (!st->available) {
			fputs(",\"reason\":", f);
			gm_json_str(f, st->reason);
		} else {
			fprintf(f, ",\"page_size\":%llu", (unsigned long long)st->page_size);
		}
		if (k->flags & BK_GMEMFS)
			fprintf(f, ",\"passthrough\":%s,\"via\":\"%s\"",
				st->passthrough ? "true" : "false",
				(k->flags & BK_CTL_FD) ? "control socket fd" : "mount");
		fputc('}', f);
	}
	fputc(']', f);
}

static void json_cell(FILE *f, const struct bench *b, unsigned int sc, unsigned int bk,
		      int first)
{
	const struct bench_cell *c = &b->cell[sc][bk];

	fprintf(f, "%s{\"scenario\":\"%s\",\"backend\":\"%s\",\"unit\":\"%s\",",
		first ? "" : ",", bench_scenarios[sc].name, bench_backends[bk].name,
		bench_scenarios[sc].unit);
	if (c->na[0]) {
		fputs("\"status\":\"n/a\",\"reason\":", f);
		gm_json_str(f, c->na);
	} else {
		fprintf(f, "\"status\":\"%s\",", c->failed ? "failed" : "measured");
		json_samples(f, c->s, c->n, bench_scenarios[sc].check_name);
		if (bench_backends[bk].flags & BK_GMEMFS) {
			fputs(",\"speed_vs_raw\":", f);
			json_num(f, ratio_raw(b, sc, bk));
			fputs(",\"speed_vs_guest_memfd\":", f);
			json_num(f, ratio_gmem(b, sc, bk));
		}
	}
	fputc('}', f);
}

int bench_report_json(struct bench *b, const char *path)
{
	FILE *f = fopen(path, "w");
	unsigned int sc, bk;
	int first = 1;

	if (!f) {
		perror(path);
		return -1;
	}
	fputs("{\"program\":\"gmembench\",", f);
	json_machine(f);
	fputc(',', f);
	json_params(f, b);
	fputc(',', f);
	json_backends(f, b);
	fputs(",\"memset_ceiling\":{\"unit\":\"GiB/s\",", f);
	json_samples(f, b->ceiling, b->nceiling, "bytes");
	fputs("},\"gmemfsd_requests\":", f);
	if (b->daemon_rw_before[0] >= 0 && b->daemon_rw_after[0] >= 0)
		fprintf(f, "{\"read\":%lld,\"write\":%lld}",
			b->daemon_rw_after[0] - b->daemon_rw_before[0],
			b->daemon_rw_after[1] - b->daemon_rw_before[1]);
	else
		fputs("null", f);
	fputs(",\"results\":[", f);
	for (sc = 0; sc < bench_nscenarios; sc++) {
		if (!selected(b, sc))
			continue;
		for (bk = 0; bk < bench_nbackends; bk++) {
			if (!b->st[bk].available && !b->cell[sc][bk].na[0])
				continue;
			json_cell(f, b, sc, bk, first);
			first = 0;
		}
	}
	fputs("]}\n", f);
	if (fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}

/* --- SVG plot ------------------------------------------------------------ */

/*
 * Two panels over the same scenarios: the gmemfs backends against their raw
 * backings (where a few percent matter), and against guest_memfd (where a
 * THP provider is orders of magnitude apart from 4K guest_memfd).  The y
 * axis of each is log2 of the ratio, symmetric around 1.0, so 2x faster and
 * 2x slower are bars of one length; each panel scales to its own data.
 */
#define SVG_W		900
#define SVG_LEFT	70
#define SVG_RIGHT	20
#define SVG_PANEL_H	190
#define SVG_GAP		40
#define SVG_TOP		40
#define SVG_LABELS	80
#define SVG_LEGEND_COLS	3	/* gmemfs backends per legend line */
#define SVG_H		(SVG_TOP + 2 * SVG_PANEL_H + SVG_GAP + SVG_LABELS + 60)

static const char *const svg_colors[] = { "#4477aa", "#cc6677", "#228833", "#aa7733",
					  "#88ccee", "#ee99aa", "#99dd99", "#ddbb77" };

struct svg_panel {
	int vs_gmem;		/* 0: against the raw backing; 1: against guest_memfd */
	double top;
	double span;		/* powers of two each side of 1.0 */
	double step;		/* between grid lines, in powers of two */
};

static double svg_ratio(const struct bench *b, unsigned int sc, unsigned int bk, int vs_gmem)
{
	return vs_gmem ? ratio_gmem(b, sc, bk) : ratio_raw(b, sc, bk);
}

static double svg_y(const struct svg_panel *pn, double ratio)
{
	double l = log2(ratio);

	if (l > pn->span)
		l = pn->span;
	if (l < -pn->span)
		l = -pn->span;
	return pn->top + SVG_PANEL_H / 2.0 - SVG_PANEL_H / 2.0 * l / pn->span;
}

static unsigned int svg_nselected(const struct bench *b)
{
	unsigned int sc, n = 0;

	for (sc = 0; sc < bench_nscenarios; sc++)
		n += selected(b, sc);
	return n ? n : 1;
}

static unsigned int svg_ngmemfs(void)
{
	unsigned int bk, n = 0;

	for (bk = 0; bk < bench_nbackends; bk++)
		n += !!(bench_backends[bk].flags & BK_GMEMFS);
	return n ? n : 1;
}

/* The smallest half-power-of-two span (at least 2^0.5, at most 2^8) that
 * holds every ratio of the panel. */
static void svg_scale(const struct bench *b, struct svg_panel *pn)
{
	unsigned int sc, bk;

	pn->span = 0.5;
	for (sc = 0; sc < bench_nscenarios; sc++)
		for (bk = 0; bk < bench_nbackends; bk++) {
			double l;

			if (!selected(b, sc) || !(bench_backends[bk].flags & BK_GMEMFS))
				continue;
			l = fabs(log2(svg_ratio(b, sc, bk, pn->vs_gmem)));
			if (!isnan(l) && l > pn->span)
				pn->span = l < 8 ? ceil(l * 2) / 2 : 8;
		}
	pn->step = pn->span <= 1 ? 0.25 : pn->span <= 3 ? 0.5 : 1;
}

static void svg_grid(FILE *f, const struct svg_panel *pn)
{
	double e;

	fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"13\">%s</text>\n", SVG_LEFT,
		pn->top - 6, pn->vs_gmem ? "against in-kernel guest_memfd" :
		"against the raw backing it sits on");
	for (e = -pn->span; e <= pn->span + 1e-9; e += pn->step) {
		double y = svg_y(pn, exp2(e));

		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"%s/>"
			"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", SVG_LEFT,
			SVG_W - SVG_RIGHT, y, y, fabs(e) < 1e-9 ? "black" : "#ddd",
			fabs(e) < 1e-9 ? " stroke-dasharray=\"4 3\"" : "", SVG_LEFT - 4, y + 4,
			exp2(e));
	}
}

/* Bars from the 1.0 line up (faster) or down (slower), one group per
 * scenario, one bar per gmemfs backend. */
static void svg_bars(FILE *f, const struct bench *b, const struct svg_panel *pn)
{
	double group = (double)(SVG_W - SVG_LEFT - SVG_RIGHT) / svg_nselected(b);
	double bw = group * 0.7 / svg_ngmemfs(), y1 = svg_y(pn, 1);
	unsigned int sc, bk, k = 0, i;

	for (sc = 0; sc < bench_nscenarios; sc++) {
		double x0 = SVG_LEFT + group * k;

		if (!selected(b, sc))
			continue;
		for (bk = 0, i = 0; bk < bench_nbackends; bk++) {
			const struct bench_backend *g = &bench_backends[bk];
			double r, y;

			if (!(g->flags & BK_GMEMFS))
				continue;
			r = svg_ratio(b, sc, bk, pn->vs_gmem);
			y = svg_y(pn, r);
			if (!isnan(r))
				fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
					"height=\"%.1f\" fill=\"%s\"><title>%s: %s vs %s %.3f"
					"</title></rect>\n", x0 + group * 0.15 + bw * i,
					y < y1 ? y : y1, bw, fabs(y1 - y) + 0.5, svg_colors[i % 8],
					bench_scenarios[sc].name, g->name,
					pn->vs_gmem ? "guest_memfd" : g->sits_on, r);
			i++;
		}
		k++;
	}
}

static void svg_labels(FILE *f, const struct bench *b, double top)
{
	double group = (double)(SVG_W - SVG_LEFT - SVG_RIGHT) / svg_nselected(b);
	unsigned int sc, bk, k = 0, i = 0;

	for (sc = 0; sc < bench_nscenarios; sc++)
		if (selected(b, sc))
			fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-30)\" "
				"text-anchor=\"end\">%s</text>\n", SVG_LEFT + group * (k++ + 0.5),
				top + 12, bench_scenarios[sc].name);
	for (bk = 0; bk < bench_nbackends; bk++)
		if (bench_backends[bk].flags & BK_GMEMFS) {
			unsigned int x = SVG_LEFT + i % SVG_LEGEND_COLS * 280;
			double y = top + SVG_LABELS + i / SVG_LEGEND_COLS * 16;

			fprintf(f, "<rect x=\"%u\" y=\"%.1f\" width=\"10\" height=\"10\" "
				"fill=\"%s\"/><text x=\"%u\" y=\"%.1f\">%s (raw: %s)</text>\n",
				x, y, svg_colors[i % 8], x + 14, y + 9,
				bench_backends[bk].name, bench_backends[bk].sits_on);
			i++;
		}
}

int bench_report_plot(struct bench *b, const char *path)
{
	struct svg_panel pn[2] = {
		{ .vs_gmem = 0, .top = SVG_TOP },
		{ .vs_gmem = 1, .top = SVG_TOP + SVG_PANEL_H + SVG_GAP },
	};
	FILE *f = fopen(path, "w");
	unsigned int i;

	if (!f) {
		perror(path);
		return -1;
	}
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"font-family=\"sans-serif\" font-size=\"11\">\n"
		"<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
		"<text x=\"%d\" y=\"16\" font-size=\"14\">gmemfs relative speed, medians "
		"(&gt;1 faster, log scale); size %llu MiB, %u rounds</text>\n",
		SVG_W, SVG_H, SVG_W, SVG_H, SVG_LEFT, (unsigned long long)(b->size >> 20),
		b->rounds);
	for (i = 0; i < 2; i++) {
		svg_scale(b, &pn[i]);
		svg_grid(f, &pn[i]);
		svg_bars(f, b, &pn[i]);
	}
	svg_labels(f, b, pn[1].top + SVG_PANEL_H);
	fputs("</svg>\n", f);
	if (fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}
