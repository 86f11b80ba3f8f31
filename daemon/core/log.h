/*
 * Logging for gmemfsd: one line per event, to stderr, with a level prefix.
 * Every error a client can cause is logged here naming the object and the
 * reason, next to the errno it is given.  Not for: statistics (fuse/stats.c).
 */
#ifndef GM_LOG_H
#define GM_LOG_H

#include <stdbool.h>

enum gm_log_level { GM_LOG_ERR, GM_LOG_WARN, GM_LOG_INFO, GM_LOG_DEBUG };

extern enum gm_log_level gm_log_level;

int gm_log_parse_level(const char *s, enum gm_log_level *out);
void gm_log(enum gm_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Each call site may log GM_LOG_BURST lines per GM_LOG_WINDOW_S seconds;
 * what it would have logged beyond that is counted and reported in one
 * line when its next window opens.  A client repeating a refused request
 * (stress-ng's chattr tries ~2,700 a second) then costs the log a few
 * lines, not one per request, while a one-off refusal is always logged.
 */
#define GM_LOG_BURST		20
#define GM_LOG_WINDOW_S		5

struct gm_log_site {
	long long window;		/* the window of the last line; gm_log_lock */
	unsigned lines;			/* logged in it */
	unsigned long suppressed;	/* not logged since the last one that was */
};

bool gm_log_site_allows(struct gm_log_site *site, enum gm_log_level lvl,
			const char *file, int line);

#define gm_log_limited(lvl, ...) do {						\
		static struct gm_log_site gm_site_;				\
		if (gm_log_site_allows(&gm_site_, lvl, __FILE__, __LINE__))	\
			gm_log(lvl, __VA_ARGS__);				\
	} while (0)

#define gm_err(...)	gm_log_limited(GM_LOG_ERR, __VA_ARGS__)
#define gm_warn(...)	gm_log_limited(GM_LOG_WARN, __VA_ARGS__)
#define gm_info(...)	gm_log_limited(GM_LOG_INFO, __VA_ARGS__)
#define gm_dbg(...)	do { if (gm_log_level >= GM_LOG_DEBUG) gm_log(GM_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
