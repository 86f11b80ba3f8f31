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

#define BEHIND	0.95	/* a ratio below this is "more than 5% behind" */

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;

	return (a > c) - (a < c);
}

struct bench_stat bench_stat_of(const struct bench_sample *s, unsigned int n)
{
	double v[BENCH_MAX_SCENARIOS * BENCH_MAX_ROUNDS];
	struct bench_stat st = { NAN, NAN, NAN };
	unsigned int i;

	if (!n)
		return st;
	for (i = 0; i < n; i++)
		v[i] = s[i].value;
	qsort(v, n, sizeof(double), cmp_double);
	st.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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
	int i;

	for (i = 0; i < b->argc; i++) {
		const char *a = b->argv[i];

		if (a[strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			       "0123456789-_./=:,+")] == '\0' && a[0])
			fprintf(f, "%s%s", i ? " " : "", a);
		else
			fprintf(f, "%s'%s'", i ? " " : "", a);	/* no ' in our args */
	}
}

static void fmt_ratio(char *buf, size_t len, double r)
{
	if (isnan(r))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f", r);
}

static void table_row(const struct bench *b, unsigned int sc, unsigned int bk)
{
	const struct bench_backend *k = &bench_backends[bk];
	const struct bench_cell *c = &b->cell[sc][bk];
	struct bench_stat st;
	char raw[16], gm[16];
	double rr = NAN;

	if (!b->st[bk].available)
		return;
	printf("  %-12s ", k->name);
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
	printf("%11.3f %11.3f %11.3f %8s %8s%s\n", st.median, st.min, st.max, raw, gm,
	       !isnan(rr) && rr < BEHIND ? "  <- >5% behind raw" : "");
}

void bench_report_table(struct bench *b)
{
	struct bench_stat ceil = bench_stat_of(b->ceiling, b->nceiling);
	unsigned int sc, bk;

	printf("\nsize %llu MiB, %u rounds interleaved; median, min, max per row.\n"
	       "vs raw, vs gmem: relative speed of a gmemfs backend against the raw backing\n"
	       "it sits on and against in-kernel guest_memfd (>1 faster, <1 slower).\n",
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
		printf("  %-12s %11s %11s %11s %8s %8s\n", "backend", "median", "min", "max",
		       "vs raw", "vs gmem");
		for (bk = 0; bk < bench_nbackends; bk++)
			table_row(b, sc, bk);
	}
	printf("\nbackends:\n");
	for (bk = 0; bk < bench_nbackends; bk++) {
		const struct bench_backend_state *st = &b->st[bk];

		if (st->available)
			printf("  %-12s %s%s\n", bench_backends[bk].name, bench_backends[bk].desc,
			       (bench_backends[bk].flags & BK_GMEMFS) ?
			       (st->passthrough ? "; passthrough on" : "; PASSTHROUGH OFF") : "");
		else
			printf("  %-12s skipped: %s\n", bench_backends[bk].name, st->reason);
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

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
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

	uname(&u);
	proc_field("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	proc_field("/proc/meminfo", "MemTotal", mem, sizeof(mem));
	first_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	first_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", shmem, sizeof(shmem));
	first_line("/proc/sys/vm/nr_hugepages", hp, sizeof(hp));
	fputs("\"machine\":{\"kernel\":", f);
	json_str(f, u.release);
	fputs(",\"kernel_version\":", f);
	json_str(f, u.version);
	fputs(",\"arch\":", f);
	json_str(f, u.machine);
	fputs(",\"cpu\":", f);
	json_str(f, cpu);
	fprintf(f, ",\"cpus_online\":%ld,\"mem_total\":", sysconf(_SC_NPROCESSORS_ONLN));
	json_str(f, mem);
	fputs(",\"thp_enabled\":", f);
	json_str(f, thp);
	fputs(",\"thp_shmem_enabled\":", f);
	json_str(f, shmem);
	fputs(",\"nr_hugepages_at_end\":", f);
	json_str(f, hp);
	fputc('}', f);
}

static void json_params(FILE *f, const struct bench *b)
{
	fprintf(f, "\"parameters\":{\"size\":%llu,\"rounds\":%u,\"quick\":%s,\"only\":",
		(unsigned long long)b->size, b->rounds, b->quick ? "true" : "false");
	if (b->only)
		json_str(f, b->only);
	else
		fputs("null", f);
	fputs(",\"mount\":", f);
	if (b->mount)
		json_str(f, b->mount);
	else
		fputs("null", f);
	fputs("},\"command\":", f);
	{
		char *cmd = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&cmd, &len);

		if (m) {
			bench_print_command(b, m);
			fclose(m);
		}
		json_str(f, cmd ? cmd : "");
		free(cmd);
	}
	fputs(",\"started_utc\":", f);
	json_str(f, b->started_utc);
	fprintf(f, ",\"duration_s\":%.3f", b->finished - b->started);
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
		fprintf(f, ",\"%s\":%lld}", check_name, s[i].check);
	}
	fputs("],\"median\":", f);
	json_num(f, st.median);
	fputs(",\"min\":", f);
	json_num(f, st.min);
	fputs(",\"max\":", f);
	json_num(f, st.max);
}

static void json_backends(FILE *f, const struct bench *b)
{
	unsigned int bk;

	fputs("\"backends\":[", f);
	for (bk = 0; bk < bench_nbackends; bk++) {
		const struct bench_backend *k = &bench_backends[bk];
		const struct bench_backend_state *st = &b->st[bk];

		fprintf(f, "%s{\"name\":", bk ? "," : "");
		json_str(f, k->name);
		fputs(",\"desc\":", f);
		json_str(f, k->desc);
		fputs(",\"sits_on\":", f);
		if (k->sits_on)
			json_str(f, k->sits_on);
		else
			fputs("null", f);
		fprintf(f, ",\"status\":\"%s\"", st->available ? "measured" : "skipped");
		if (!st->available) {
			fputs(",\"reason\":", f);
			json_str(f, st->reason);
		} else {
			fprintf(f, ",\"page_size\":%llu", (unsigned long long)st->page_size);
		}
		if (k->flags & BK_GMEMFS)
			fprintf(f, ",\"passthrough\":%s", st->passthrough ? "true" : "false");
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
		json_str(f, c->na);
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
	fprintf(f, "},\"gmemfsd_requests\":{\"read\":%lld,\"write\":%lld},\"results\":[",
		b->daemon_rw_after[0] - b->daemon_rw_before[0],
		b->daemon_rw_after[1] - b->daemon_rw_before[1]);
	for (sc = 0; sc < bench_nscenarios; sc++) {
		if (!selected(b, sc))
			continue;
		for (bk = 0; bk < bench_nbackends; bk++) {
			if (!b->st[bk].available)
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

#define SVG_W		900
#define SVG_H		420
#define SVG_LEFT	60
#define SVG_TOP		40
#define SVG_BOTTOM	120
#define SVG_RIGHT	20

static const char *const svg_colors[] = { "#4477aa", "#88ccee", "#cc6677", "#ee99aa",
					  "#228833", "#99dd99", "#aa7733", "#ddbb77" };

/* One bar per (gmemfs backend, comparison) and scenario. */
struct svg_series {
	unsigned int bk;
	int vs_gmem;
};

static unsigned int svg_series_of(struct svg_series *s, unsigned int max)
{
	unsigned int bk, n = 0;

	for (bk = 0; bk < bench_nbackends && n + 2 <= max; bk++) {
		if (!(bench_backends[bk].flags & BK_GMEMFS))
			continue;
		s[n++] = (struct svg_series){ bk, 0 };
		s[n++] = (struct svg_series){ bk, 1 };
	}
	return n;
}

static double svg_ratio(const struct bench *b, unsigned int sc, const struct svg_series *s)
{
	return s->vs_gmem ? ratio_gmem(b, sc, s->bk) : ratio_raw(b, sc, s->bk);
}

int bench_report_plot(struct bench *b, const char *path)
{
	struct svg_series ser[8];
	unsigned int nser = svg_series_of(ser, 8), sc, i, nsc = 0, k = 0;
	double ymax = 1.5, plot_h = SVG_H - SVG_TOP - SVG_BOTTOM, group, y1;
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		return -1;
	}
	for (sc = 0; sc < bench_nscenarios; sc++) {
		if (!selected(b, sc))
			continue;
		nsc++;
		for (i = 0; i < nser; i++) {
			double r = svg_ratio(b, sc, &ser[i]);

			if (!isnan(r) && r > ymax)
				ymax = r;
		}
	}
	ymax = ceil(ymax * 2) / 2;
	group = (double)(SVG_W - SVG_LEFT - SVG_RIGHT) / (nsc ? nsc : 1);
	y1 = SVG_TOP + plot_h - plot_h / ymax;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"font-family=\"sans-serif\" font-size=\"11\">\n", SVG_W, SVG_H);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", SVG_W, SVG_H);
	fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">gmemfs relative speed "
		"(&gt;1 faster), size %llu MiB, %u rounds, medians</text>\n", SVG_LEFT,
		(unsigned long long)(b->size >> 20), b->rounds);
	for (i = 0; i <= (unsigned int)(ymax * 2); i++) {
		double v = i * 0.5, y = SVG_TOP + plot_h - plot_h * v / ymax;

		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
			"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n", SVG_LEFT,
			SVG_W - SVG_RIGHT, y, y, SVG_LEFT - 4, y + 4, v);
	}
	for (sc = 0; sc < bench_nscenarios; sc++) {
		double x0 = SVG_LEFT + group * k, bw = group * 0.8 / (nser ? nser : 1);

		if (!selected(b, sc))
			continue;
		for (i = 0; i < nser; i++) {
			double r = svg_ratio(b, sc, &ser[i]), h;

			if (isnan(r))
				continue;
			h = plot_h * r / ymax;
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				"fill=\"%s\"><title>%s %s vs %s: %.3f</title></rect>\n",
				x0 + group * 0.1 + bw * i, SVG_TOP + plot_h - h, bw, h,
				svg_colors[i % 8], bench_scenarios[sc].name,
				bench_backends[ser[i].bk].name,
				ser[i].vs_gmem ? "guest_memfd" : bench_backends[ser[i].bk].sits_on, r);
		}
		fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-35)\" "
			"text-anchor=\"end\">%s</text>\n", x0 + group / 2,
			SVG_TOP + plot_h + 14, bench_scenarios[sc].name);
		k++;
	}
	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"black\" "
		"stroke-dasharray=\"4 3\"/>\n", SVG_LEFT, SVG_W - SVG_RIGHT, y1, y1);
	for (i = 0; i < nser; i++)
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
			"<text x=\"%d\" y=\"%d\">%s vs %s</text>\n",
			SVG_LEFT + (int)(i % 4) * 200, SVG_H - 30 + (int)(i / 4) * 14,
			svg_colors[i % 8], SVG_LEFT + (int)(i % 4) * 200 + 14,
			SVG_H - 21 + (int)(i / 4) * 14, bench_backends[ser[i].bk].name,
			ser[i].vs_gmem ? "guest_memfd" : bench_backends[ser[i].bk].sits_on);
	fputs("</svg>\n", f);
	if (fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}
