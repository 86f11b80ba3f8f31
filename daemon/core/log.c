/*
 * gm_log(): leveled log lines on stderr.  Lines are written with a single
 * write so concurrent FUSE worker threads do not interleave them.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

enum gm_log_level gm_log_level = GM_LOG_INFO;

static const char *const gm_log_names[] = {
	[GM_LOG_ERR] = "error",
	[GM_LOG_WARN] = "warn",
	[GM_LOG_INFO] = "info",
	[GM_LOG_DEBUG] = "debug",
};

int gm_log_parse_level(const char *s, enum gm_log_level *out)
{
	for (unsigned i = 0; i < sizeof(gm_log_names) / sizeof(gm_log_names[0]); i++) {
		if (strcasecmp(s, gm_log_names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

void gm_log(enum gm_log_level lvl, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (lvl > gm_log_level)
		return;
	n = snprintf(line, sizeof(line), "gmemfsd: %s: ", gm_log_names[lvl]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

/* Guards every gm_log_site; taken alone, never while logging. */
static pthread_mutex_t gm_log_lock = PTHREAD_MUTEX_INITIALIZER;

bool gm_log_site_allows(struct gm_log_site *site, enum gm_log_level lvl,
			const char *file, int line)
{
	unsigned long missed = 0;
	struct timespec now;
	long long window;
	bool allow;

	if (lvl > gm_log_level)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	window = (long long)now.tv_sec / GM_LOG_WINDOW_S;
	pthread_mutex_lock(&gm_log_lock);
	if (site->window != window) {
		site->window = window;
		site->lines = 0;
		missed = site->suppressed;
		site->suppressed = 0;
	}
	allow = site->lines < GM_LOG_BURST;
	if (allow)
		site->lines++;
	else
		site->suppressed++;
	pthread_mutex_unlock(&gm_log_lock);
	if (missed)
		gm_log(lvl, "log: %lu more lines from %s:%d were left out", missed, file, line);
	return allow;
}
